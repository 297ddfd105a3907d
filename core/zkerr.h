/* ZooKeeper's error codes (KeeperException.Code) and opcodes, as they go on the wire. */
#ifndef CORRAL_ZKERR_H
#define CORRAL_ZKERR_H

enum zk_err {
    ZK_OK = 0,
    ZK_SYSTEMERROR = -1, /* never sent by ZooKeeper; corral answers it when out of memory */
    ZK_RUNTIMEINCONSISTENCY = -2,
    ZK_MARSHALLINGERROR = -5,
    ZK_UNIMPLEMENTED = -6,
    ZK_BADARGUMENTS = -8,
    ZK_NONODE = -101,
    ZK_NOAUTH = -102,
    ZK_BADVERSION = -103,
    ZK_NOCHILDRENFOREPHEMERALS = -108,
    ZK_NODEEXISTS = -110,
    ZK_NOTEMPTY = -111,
    ZK_SESSIONEXPIRED = -112,
    ZK_INVALIDACL = -114,
    ZK_AUTHFAILED = -115,
    ZK_NOTREADONLY = -119,
    ZK_NOWATCHER = -121,
    ZK_RECONFIGDISABLED = -123,
    ZK_QUOTAEXCEEDED = -125,
};

enum zk_op {
    ZK_OP_NOTIFICATION = 0,
    ZK_OP_CREATE = 1,
    ZK_OP_DELETE = 2,
    ZK_OP_EXISTS = 3,
    ZK_OP_GETDATA = 4,
    ZK_OP_SETDATA = 5,
    ZK_OP_GETACL = 6,
    ZK_OP_SETACL = 7,
    ZK_OP_GETCHILDREN = 8,
    ZK_OP_SYNC = 9,
    ZK_OP_PING = 11,
    ZK_OP_GETCHILDREN2 = 12,
    ZK_OP_CHECK = 13,
    ZK_OP_MULTI = 14,
    ZK_OP_CREATE2 = 15,
    ZK_OP_RECONFIG = 16,
    ZK_OP_CHECKWATCHES = 17,
    ZK_OP_REMOVEWATCHES = 18,
    ZK_OP_CREATECONTAINER = 19,
    ZK_OP_DELETECONTAINER = 20,
    ZK_OP_CREATETTL = 21,
    ZK_OP_MULTIREAD = 22,
    ZK_OP_AUTH = 100,
    ZK_OP_SETWATCHES = 101,
    ZK_OP_SASL = 102,
    ZK_OP_GETEPHEMERALS = 103,
    ZK_OP_GETALLCHILDRENNUMBER = 104,
    ZK_OP_SETWATCHES2 = 105,
    ZK_OP_ADDWATCH = 106,
    ZK_OP_WHOAMI = 107,
    ZK_OP_CREATESESSION = -10,
    ZK_OP_CLOSESESSION = -11,
    ZK_OP_ERROR = -1,
};

/* Watch events (WatcherEvent.type) and the one state the server sends. */
enum zk_event {
    ZK_EVENT_CREATED = 1,
    ZK_EVENT_DELETED = 2,
    ZK_EVENT_DATA_CHANGED = 3,
    ZK_EVENT_CHILDREN_CHANGED = 4,
};
#define ZK_STATE_SYNC_CONNECTED 3

/* Special xids. */
#define ZK_XID_NOTIFICATION (-1)
#define ZK_XID_PING (-2)
#define ZK_XID_AUTH (-4)
#define ZK_XID_SET_WATCHES (-8)

/* ACL permission bits. */
#define ZK_PERM_READ 1
#define ZK_PERM_WRITE 2
#define ZK_PERM_CREATE 4
#define ZK_PERM_DELETE 8
#define ZK_PERM_ADMIN 16
#define ZK_PERM_ALL 31

#endif
