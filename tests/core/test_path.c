/* Path rules: PathUtils.validatePath as client-protocol.md §7.5 describes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "path.h"

static bool valid(const char *p)
{
    return path_is_valid(p, strlen(p));
}

static void plain_paths_are_valid(void **state)
{
    (void)state;
    assert_true(valid("/"));
    assert_true(valid("/a"));
    assert_true(valid("/a/b/c"));
    assert_true(valid("/zookeeper/quota"));
    assert_true(valid("/a b"));
    assert_true(valid("/~!@#$%^&*()_+-=[]{};'\\\",<>?"));
}

static void structure_rules(void **state)
{
    (void)state;
    assert_false(path_is_valid(NULL, 0));
    assert_false(valid(""));
    assert_false(valid("a"));
    assert_false(valid("a/b"));
    assert_false(valid("/a/"));
    assert_false(valid("//"));
    assert_false(valid("//a"));
    assert_false(valid("/a//b"));
}

static void dot_components(void **state)
{
    (void)state;
    assert_false(valid("/."));
    assert_false(valid("/.."));
    assert_false(valid("/a/."));
    assert_false(valid("/a/.."));
    assert_false(valid("/./a"));
    assert_false(valid("/../a"));
    assert_false(valid("/a/../b"));
    assert_true(valid("/a/..x"));
    assert_true(valid("/a/x.."));
    assert_true(valid("/..."));
    assert_true(valid("/.a"));
    assert_true(valid("/a.b"));
    assert_true(valid("/a/.b/c"));
}

static void embedded_nul_uses_the_byte_length(void **state)
{
    (void)state;
    assert_false(path_is_valid("/a\0b", 4));
    assert_false(path_is_valid("/a\0", 3));
    assert_true(path_is_valid("/a\0b", 2)); /* only "/a" is looked at */
}

static void control_characters(void **state)
{
    (void)state;
    assert_false(valid("/a\x01"));
    assert_false(valid("/a\tb"));
    assert_false(valid("/a\nb"));
    assert_false(valid("/\x1f"));
    assert_true(valid("/\x20"));
    assert_false(valid("/\x7f"));
    assert_true(valid("/\x7e"));
    assert_false(valid("/\xc2\x80")); /* U+0080 */
    assert_false(valid("/\xc2\x9f")); /* U+009F */
    assert_true(valid("/\xc2\xa0"));  /* U+00A0 */
}

static void non_ascii_in_the_bmp(void **state)
{
    (void)state;
    assert_true(valid("/\xc3\xa9")); /* é */
    assert_true(valid("/caf\xc3\xa9/na\xc3\xafve"));
    assert_true(valid("/\xe4\xb8\xad\xe6\x96\x87")); /* 中文 */
    assert_true(valid("/\xed\x9f\xbf"));             /* U+D7FF */
    assert_false(valid("/\xee\x80\x80"));            /* U+E000, private use */
    assert_false(valid("/\xef\xa3\xbf"));            /* U+F8FF */
    assert_true(valid("/\xef\xa4\x80"));             /* U+F900 */
    assert_true(valid("/\xef\xbf\xaf"));             /* U+FFEF */
    assert_false(valid("/\xef\xbf\xb0"));            /* U+FFF0 */
    assert_false(valid("/\xef\xbf\xbd"));            /* U+FFFD itself */
    assert_false(valid("/\xef\xbf\xbf"));            /* U+FFFF */
}

static void outside_the_bmp_is_rejected(void **state)
{
    (void)state;
    assert_false(valid("/\xf0\x9f\x98\x80"));   /* U+1F600, an emoji */
    assert_false(valid("/a/\xf0\x90\x80\x80")); /* U+10000 */
}

static void malformed_utf8_is_rejected(void **state)
{
    (void)state;
    assert_false(valid("/\x80"));         /* lone continuation byte */
    assert_false(valid("/\xc3"));         /* truncated */
    assert_false(valid("/\xc3/a"));       /* truncated before '/' */
    assert_false(valid("/\xe4\xb8"));     /* truncated 3-byte */
    assert_false(valid("/\xc0\xaf"));     /* overlong '/' */
    assert_false(valid("/\xc0\x80"));     /* overlong NUL */
    assert_false(valid("/\xe0\x80\xaf")); /* overlong 3-byte */
    assert_false(valid("/\xed\xa0\x80")); /* encoded surrogate U+D800 */
    assert_false(valid("/\xff"));
    assert_false(valid("/\xf8\x88\x80\x80\x80"));
}

static void parent_len(void **state)
{
    (void)state;
    assert_int_equal(path_parent_len("/a", 2), 0);
    assert_int_equal(path_parent_len("/a/b", 4), 2);
    assert_int_equal(path_parent_len("/a/b/cde", 8), 4);
    assert_int_equal(path_parent_len("/", 1), 0);
    assert_int_equal(path_parent_len("abc", 3), -1);
    assert_int_equal(path_parent_len("", 0), -1);
}

static void protected_paths(void **state)
{
    (void)state;
    assert_true(path_is_protected("/"));
    assert_true(path_is_protected("/zookeeper"));
    assert_true(path_is_protected("/zookeeper/quota"));
    assert_true(path_is_protected("/zookeeper/config"));
    assert_false(path_is_protected("/zookeeper/other"));
    assert_false(path_is_protected("/zookeeper/quota/a"));
    assert_false(path_is_protected("/zoo"));
    assert_false(path_is_protected(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_paths_are_valid),
        cmocka_unit_test(structure_rules),
        cmocka_unit_test(dot_components),
        cmocka_unit_test(embedded_nul_uses_the_byte_length),
        cmocka_unit_test(control_characters),
        cmocka_unit_test(non_ascii_in_the_bmp),
        cmocka_unit_test(outside_the_bmp_is_rejected),
        cmocka_unit_test(malformed_utf8_is_rejected),
        cmocka_unit_test(parent_len),
        cmocka_unit_test(protected_paths),
    };
    return cmocka_run_group_tests_name("path", tests, NULL, NULL);
}
