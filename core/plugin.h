/* The plugin loader: dlopen a shared object by name (from plugin_dir) or absolute path and
 * check its descriptor before anything of it is called. */
#ifndef CORRAL_PLUGIN_LOADER_H
#define CORRAL_PLUGIN_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include <corral/plugin.h>

struct plugin_lib {
    void *handle;
    const struct corral_plugin *desc;
    char path[4096];
};

/* Loads `plugin` ("cnxn-nio" -> <plugin_dir>/cnxn-nio.so, or an absolute path) expecting
 * `kind`. On failure returns a negative errno with one sentence in err naming the file and the
 * cause: missing file, not loadable, no corral_plugin descriptor, another ABI, another kind or
 * name, or a required slot left NULL. */
int plugin_load(const char *plugin_dir, const char *plugin, uint32_t kind,
                struct plugin_lib *out, char *err, size_t err_len);
/* dlclose; only at exit, after every instance of the plugin was destroyed. */
void plugin_unload(struct plugin_lib *lib);
const char *plugin_kind_name(uint32_t kind);

/* The plugin directory when the config names none: <dir of the executable>/plugins when it
 * exists (a build tree), else the install directory. */
void plugin_default_dir(char *out, size_t out_len);

#endif
