#include "cli_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec/userns.h"
#include "image/ref.h"
#include "util/buf.h"
#include "util/cleanup.h"

int
cli_store_open(struct store **out, const char *root, struct sw_error **err)
{
    sw_autofree char *def = NULL, *abs = NULL;
    if (!root) {
        int r = store_default_root(&def, err);
        if (r < 0)
            return r;
        root = def;
    }
    /* an absolute root: container specs and overlay mounts need absolute paths */
    if (root[0] != '/') {
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd) || asprintf(&abs, "%s/%s", cwd, root) < 0)
            return sw_error_set(err, SW_EIO, errno, NULL, "resolving the store root %s", root);
        root = abs;
    }
    return store_open(out, root, err);
}

int
cli_enter_rootless(const char **root, char **owned, struct sw_error **err)
{
    *owned = NULL;
    if (geteuid() == 0)
        return 0;
    /* the user's store: inside, we are uid 0, whose default is /var/lib/slipway */
    if (!*root) {
        int r = store_default_root(owned, err);
        if (r < 0)
            return r;
        *root = *owned;
    }
    return ctr_userns_enter(NULL, "/etc", err);
}

int
cli_read_file(char **out, size_t *len, const char *path, struct sw_error **err)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return sw_error_set(err, SW_EIO, errno, NULL, "cannot read %s: %s", path, strerror(errno));
    struct sw_buf b = {0};
    char chunk[65536];
    size_t n;
    int r = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && r == 0)
        r = sw_buf_append(&b, chunk, n) < 0 ? sw_error_oom(err) : 0;
    if (r == 0 && ferror(f))
        r = sw_error_set(err, SW_EIO, EIO, NULL, "cannot read %s", path);
    if (f != stdin)
        fclose(f);
    if (r < 0) {
        sw_buf_free(&b);
        return r;
    }
    *len = b.len;
    *out = sw_buf_detach(&b);
    return *out ? 0 : sw_error_oom(err);
}

int
cli_image_name(char **familiar, char **full, const char *name, struct sw_error **err)
{
    struct img_ref *r = NULL;
    int rc = img_ref_parse(&r, name, err);
    if (rc < 0)
        return rc;
    *familiar = img_ref_string_familiar(r);
    *full = img_ref_string_full(r);
    img_ref_free(r);
    if (!*familiar || !*full) {
        free(*familiar);
        free(*full);
        return sw_error_oom(err);
    }
    return 0;
}

int
cli_push_build_arg(struct sw_strv *args, const char *arg)
{
    if (strchr(arg, '='))
        return sw_strv_push(args, arg);
    const char *v = getenv(arg);
    if (!v)
        return 0;
    char *kv = NULL;
    if (asprintf(&kv, "%s=%s", arg, v) < 0)
        return -SW_ENOMEM;
    return sw_strv_push_owned(args, kv);
}
