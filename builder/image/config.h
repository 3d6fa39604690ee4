/*
 * builder/image/config.h: the OCI image config (application/vnd.oci.image.config.v1+json) as
 * BuildKit writes it, and the history texts of Dockerfile steps.
 *
 * Owns: struct img_config (platform fields, the runtime "config" object including Docker's
 * Healthcheck/OnBuild/Shell extensions, rootfs diff_ids, history); parsing a base image's config
 * with validation; canonical JSON output; the edit helpers a build needs (env/label set, ports,
 * volumes, cmd/entrypoint, layers and history entries, created time); RFC 3339 times; and
 * img_history_created_by, the `created_by` strings of BuildKit's dockerfile2llb.
 * Applying a Dockerfile instruction to a config is the solver's job; it uses these helpers.
 *
 * JSON output follows BuildKit's Go structs (dockerspec.DockerOCIImage) field by field:
 * "architecture", "os", "config" and "rootfs" are always written; every other field is omitted
 * when empty (Go `omitempty`), e.g. no "Volumes" without volumes, no "Cmd" when Cmd is absent
 * *or* empty. ArgsEscaped is never written (and dropped when read). Bytes are canonical: compact
 * with sorted keys, so the same config always gives the same digest. Fields this model does not
 * know (Docker's "container_config", config.Hostname, ...) are kept from the parsed document and
 * written back unchanged, at the top level and inside config, rootfs, Healthcheck and each
 * history entry (img_config_drop_unknown removes them).
 *
 * Ownership: the config owns every string and list in it; edit fields directly or through the
 * helpers (which copy their arguments). Errors are -SW_EINVAL naming the field
 * (`image config: config.Env[1]: "FOO" is not KEY=value`) or -SW_ENOMEM.
 */
#ifndef SLIPWAY_IMAGE_CONFIG_H
#define SLIPWAY_IMAGE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"
#include "../util/digest.h"
#include "../util/error.h"
#include "platform.h"
#include "strmap.h"

struct json_t; /* jansson */

/* The history comment BuildKit puts on every Dockerfile step. */
#define IMG_HISTORY_COMMENT "buildkit.dockerfile.v0"
/* Room for any img_time_format result ("-0001-..." cannot happen: years are 0..9999). */
#define IMG_TIME_MAX 40

/* Docker's HEALTHCHECK config. Durations in nanoseconds; 0 means "inherit" (omitted). */
struct img_health {
    struct sw_strv test; /* {} inherit, {"NONE"}, {"CMD", argv...}, {"CMD-SHELL", cmd} */
    int64_t interval, timeout, start_period, start_interval;
    int64_t retries;
    struct json_t *extra; /* unknown members of the parsed object, or NULL */
};

struct img_history {
    char *created;    /* RFC 3339, NULL when absent */
    char *created_by; /* the step, e.g. "RUN /bin/sh -c make # buildkit" */
    char *author;
    char *comment; /* IMG_HISTORY_COMMENT for Dockerfile steps */
    bool empty_layer;
    struct json_t *extra;
};

struct img_config {
    char *created;           /* RFC 3339 UTC; required for output (img_config_set_created) */
    char *author;            /* MAINTAINER */
    char *architecture, *os; /* required */
    char *os_version;        /* "os.version": Windows images copy it from the base */
    struct sw_strv os_features;
    char *variant;

    /* the "config" object */
    char *user;
    struct sw_strv exposed_ports; /* a set ("8080/tcp"), insertion order */
    struct sw_strv env;           /* "KEY=value", in order */
    struct sw_strv *entrypoint;   /* NULL: not set; non-NULL (maybe n == 0): set */
    struct sw_strv *cmd;          /* same */
    struct sw_strv volumes;       /* a set */
    char *working_dir;
    struct img_strmap labels;
    char *stop_signal;
    struct img_health *healthcheck; /* NULL: not set */
    struct sw_strv onbuild;         /* ONBUILD trigger texts, in order */
    struct sw_strv shell;           /* SHELL; empty: the OS default */

    /* rootfs ("type": "layers") */
    struct sw_digest *diff_ids;
    size_t ndiff_ids, diff_ids_cap;

    struct img_history *history;
    size_t nhistory, history_cap;

    /* unknown members kept from the parsed document (NULL when none) */
    struct json_t *extra, *config_extra, *rootfs_extra;
};

/* ---- life cycle ------------------------------------------------------------------------------ */

/* An empty config for a platform (os, architecture, variant; rootfs without layers). Nothing
 * else is set: the solver applies BuildKit's scratch defaults (PATH) itself. */
int img_config_new(struct img_config **out, const struct img_platform *p, struct sw_error **err);

/*
 * Parse a config blob (a base image's config; Docker's container.image.v1+json is the same
 * shape). Checks: a JSON object; architecture, os and rootfs present; rootfs.type "layers";
 * every diff_id a sha256 digest; Env entries "KEY=value" with a non-empty KEY; created and
 * history[].created RFC 3339; every known field of the right JSON type. JSON null and "" read as
 * absent (NULL), as Go's zero values. On success *out is owned by the caller (img_config_free).
 */
int img_config_parse(struct img_config **out, const char *data, size_t len, struct sw_error **err);

/* Canonical JSON (see the top of this header). Fails if created, architecture or os is unset
 * or an Env entry is not KEY=value. *out is owned by the caller; *len excludes the NUL. */
int img_config_to_json(char **out, size_t *len, const struct img_config *c, struct sw_error **err);

int img_config_clone(struct img_config **out, const struct img_config *c, struct sw_error **err);
void img_config_free(struct img_config *c);
/* Forget the unknown members kept from the parsed document (BuildKit drops them). */
void img_config_drop_unknown(struct img_config *c);

/* ---- edits ----------------------------------------------------------------------------------- */

/* created = the time given (UTC, RFC 3339 with Go's trimmed nanoseconds). */
int img_config_set_created(struct img_config *c, int64_t sec, int32_t nsec, struct sw_error **err);
/*
 * BuildKit addEnv: replace the first entry whose key is `key` ("key=..." or a bare "key"),
 * else append "key=value". For os "windows" keys compare case-insensitively and the existing
 * spelling is kept (Windows environment names are case-insensitive). key must be non-empty and
 * contain no '='.
 */
int img_config_env_set(struct img_config *c, const char *key, const char *value,
                       struct sw_error **err);
/* The value of the first entry for key (borrowed), or NULL. Same key matching as env_set. */
const char *img_config_env_get(const struct img_config *c, const char *key);
int img_config_label_set(struct img_config *c, const char *key, const char *value,
                         struct sw_error **err);
/* Add "port/proto" to ExposedPorts / a path to Volumes (no duplicates). */
int img_config_expose(struct img_config *c, const char *port_proto, struct sw_error **err);
int img_config_add_volume(struct img_config *c, const char *path, struct sw_error **err);
/* Set Cmd / Entrypoint to a copy of argv[0..n). argv NULL makes it absent; a non-NULL argv
 * with n 0 makes it present and empty (ENTRYPOINT [] vs no ENTRYPOINT). */
int img_config_set_cmd(struct img_config *c, const char *const *argv, size_t n,
                       struct sw_error **err);
int img_config_set_entrypoint(struct img_config *c, const char *const *argv, size_t n,
                              struct sw_error **err);
/* Set (copy) or, with h NULL, remove the healthcheck. */
int img_config_set_healthcheck(struct img_config *c, const struct img_health *h,
                               struct sw_error **err);

/* Append a history entry. created/created_by/comment may be NULL (omitted). */
int img_config_add_history(struct img_config *c, const char *created, const char *created_by,
                           const char *comment, bool empty_layer, struct sw_error **err);
/* Append a layer: its diff_id to rootfs and a history entry with empty_layer false. */
int img_config_add_layer(struct img_config *c, const struct sw_digest *diff_id, const char *created,
                         const char *created_by, const char *comment, struct sw_error **err);
/* Number of history entries with empty_layer false (must equal ndiff_ids in a sane config). */
size_t img_config_layer_history_count(const struct img_config *c);

/* ---- times ----------------------------------------------------------------------------------- */

/* Go's time.Time JSON form in UTC: "2006-01-02T15:04:05.999999999Z" (trailing zeros of the
 * fraction trimmed, no fraction when nsec is 0). Years must be 0..9999. buf >= IMG_TIME_MAX. */
int img_time_format(char *buf, size_t n, int64_t sec, int32_t nsec, struct sw_error **err);
/* An RFC 3339 date-time as Go's time.Parse(time.RFC3339) accepts it (Z or +hh:mm offsets). */
bool img_time_valid(const char *s);

/* ---- history texts (BuildKit dockerfile2llb) ------------------------------------------------- */

enum img_hist_kind {
    IMG_HIST_ENV,         /* "ENV k=v k2=v2"                                     pairs */
    IMG_HIST_LABEL,       /* "LABEL k=v"                                         pairs */
    IMG_HIST_ARG,         /* "ARG k=v k2" (value NULL: no "=")                   pairs */
    IMG_HIST_USER,        /* "USER u"                                            value */
    IMG_HIST_WORKDIR,     /* "WORKDIR /abs" (the normalized directory)           value */
    IMG_HIST_STOPSIGNAL,  /* "STOPSIGNAL SIGTERM"                                value */
    IMG_HIST_MAINTAINER,  /* "MAINTAINER m"                                      value */
    IMG_HIST_CMD,         /* `CMD ["/bin/sh" "-c" "x"]` (Go %q of the final argv) words */
    IMG_HIST_ENTRYPOINT,  /* `ENTRYPOINT ["a"]`; words NULL/0: `ENTRYPOINT []`   words */
    IMG_HIST_SHELL,       /* "SHELL [/bin/bash -c]" (Go %v)                      words */
    IMG_HIST_VOLUME,      /* "VOLUME [/a /b]" (Go %v)                            words */
    IMG_HIST_EXPOSE,      /* "EXPOSE [80/tcp 53/udp]" ("port/proto", in order)   words */
    IMG_HIST_HEALTHCHECK, /* "HEALTHCHECK {Test:[CMD-SHELL x] Interval:30s ... Retries:3}" */
    IMG_HIST_RUN,         /* "RUN |2 A=1 B=2 /bin/sh -c make # buildkit"   words + pairs */
    IMG_HIST_COPY,        /* "COPY --chown=u src1 <<EOF /dest # buildkit"  words + value */
    IMG_HIST_ADD,         /* "ADD ..." like COPY                                  */
};

/* What a step needs for its text; fields a kind does not use are ignored. */
struct img_hist_step {
    enum img_hist_kind kind;
    /* ENV/LABEL/ARG: the pairs in order (expanded). RUN: the stage's build args in order of
     * declaration, each with its effective value (the env value if set, else the default, else
     * NULL); a key seen again replaces the earlier value in its first position. */
    const char *const *keys;
    const char *const *values;
    size_t npairs;
    /* CMD/ENTRYPOINT/SHELL/VOLUME/EXPOSE: the list; RUN: the final argv (shell prepended);
     * COPY/ADD: the non-heredoc sources as written. */
    const char *const *words;
    size_t nwords;
    /* USER/WORKDIR/STOPSIGNAL/MAINTAINER: the value; COPY/ADD: the destination as written. */
    const char *value;
    const struct img_health *health; /* HEALTHCHECK */
    /* COPY/ADD */
    bool parents;
    const char *chown, *chmod;   /* NULL when not given */
    const char *const *heredocs; /* heredoc names, printed as "<<NAME" after the sources */
    size_t nheredocs;
    /* EXPOSE: BuildKit before moby/buildkit#6128 (Aug 2025; go-connections/nat) printed a map,
     * "EXPOSE map[53/udp:{} 80/tcp:{}]" (sorted, duplicates merged). */
    bool expose_legacy_map;
};

/*
 * The created_by text BuildKit's dockerfile2llb gives the step (see docs/image-config.md).
 * RUN, COPY and ADD end in " # buildkit" (commitToHistory with a state). ONBUILD, FROM and ARG
 * outside a stage make no history entry. *out is owned by the caller.
 */
int img_history_created_by(char **out, const struct img_hist_step *s, struct sw_error **err);

/* Go time.Duration.String() of ns ("1m30s", "100ms", "1.5µs", "0s"), appended to out. */
int img_go_duration(struct sw_buf *out, int64_t ns);

#endif
