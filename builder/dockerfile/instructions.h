/*
 * builder/dockerfile/instructions.h: the typed-instruction layer (BuildKit's
 * frontend/dockerfile/instructions, plus the small value parsers of dockerfile2llb).
 *
 * Owns: turning one AST node (parser.h) into a typed, validated instruction (argument counts,
 * flags, exec/shell forms, heredoc use) and the expansion step that expands exactly the fields
 * BuildKit expands for each instruction. Also the pieces those need and the stage resolver reuses:
 *   - the BFlags flag parser (bool / string / repeatable string-list flags);
 *   - RUN --mount and --device CSV parsing, --network / --security;
 *   - Go time.ParseDuration / Duration.String for HEALTHCHECK, and its history text;
 *   - EXPOSE port specs ([ip:][hostport:]port[-range][/proto] -> "port/proto");
 *   - --chmod validation, URL detection for COPY sources;
 *   - env helpers: addEnv, toEnvMap, proxy build args, SOURCE_DATE_EPOCH.
 *
 * It does not know stages, scopes or images. The stage resolver builds the df_env passed to
 * df_instr_expand (stage ARG/ENV scope; global ARGs only for FROM) and applies the results.
 *
 * Conventions: every string field is owned by its struct and NUL-terminated; "not given" is NULL
 * where the distinction matters (documented per field). Errors are -SW_EINVAL with BuildKit's
 * message texts and the instruction's span. No global mutable state.
 */
#ifndef SLIPWAY_DF_INSTRUCTIONS_H
#define SLIPWAY_DF_INSTRUCTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"
#include "../util/error.h"
#include "expand.h"
#include "parser.h"

/* ---- instruction kinds ----------------------------------------------------------------------- */

enum df_kind {
    DF_FROM,
    DF_RUN,
    DF_CMD,
    DF_ENTRYPOINT,
    DF_SHELL,
    DF_ENV,
    DF_LABEL,
    DF_ARG,
    DF_COPY,
    DF_ADD,
    DF_WORKDIR,
    DF_USER,
    DF_VOLUME,
    DF_EXPOSE,
    DF_STOPSIGNAL,
    DF_HEALTHCHECK,
    DF_ONBUILD,
    DF_MAINTAINER,
};
#define DF_KIND_COUNT (DF_MAINTAINER + 1)

/* "FROM", "RUN", ... */
const char *df_kind_name(enum df_kind k);
/* Case-insensitive keyword lookup; -1 when the keyword is not an instruction. */
int df_kind_from_keyword(const char *keyword);

/* ---- BFlags: the instruction flag parser ----------------------------------------------------- */

enum df_flag_type {
    DF_FLAG_BOOL,    /* --f, --f=true|false (any case); --f= is an error */
    DF_FLAG_STRING,  /* --f=v (the '=' is required; --f= sets ""); once */
    DF_FLAG_STRINGS, /* like STRING but repeatable: every value is kept (--mount, --exclude) */
};

#define DF_BFLAGS_MAX 16

struct df_flag {
    char *name;
    enum df_flag_type type;
    char *value;           /* BOOL: "true"/"false"; STRING: the value (the default until given) */
    struct sw_strv values; /* STRINGS: the values given, in order */
    bool used;             /* given on the command line (even if equal to the default) */
};

struct df_bflags {
    struct df_flag flags[DF_BFLAGS_MAX];
    size_t n;
    struct sw_strv used; /* names of the flags given, in order of first use */
};

/* Define a flag. def: BOOL "true"/"false" (NULL = false); STRING the default (NULL = ""). */
int df_bflags_add(struct df_bflags *bf, const char *name, enum df_flag_type type, const char *def,
                  struct sw_error **err);
/* Parse the flag words (as the parser extracted them: "--name[=value]"). A word "--" stops. */
int df_bflags_parse(struct df_bflags *bf, char *const *args, size_t nargs, struct sw_error **err);
const struct df_flag *df_bflags_get(const struct df_bflags *bf, const char *name);
void df_bflags_free(struct df_bflags *bf);

/* ---- RUN --mount, --device, --network, --security -------------------------------------------- */

enum df_mount_type { DF_MOUNT_BIND, DF_MOUNT_CACHE, DF_MOUNT_TMPFS, DF_MOUNT_SECRET, DF_MOUNT_SSH };
enum df_mount_sharing { DF_SHARING_SHARED, DF_SHARING_PRIVATE, DF_SHARING_LOCKED };

/*
 * One --mount, as BuildKit's instructions.Mount, with the defaults dockerfile2llb applies at
 * conversion time already filled in by df_run_mounts_finish (see there). Empty string values
 * count as not given (BuildKit compares with ""), so they are stored as NULL.
 */
struct df_mount {
    enum df_mount_type type; /* default bind */
    char *from;              /* stage/image/context name; NULL: build context (bind),
                                scratch (cache) */
    char *source;            /* source|src */
    char *target;            /* target|dst|destination */
    char *id;                /* id= (cache id, secret id, ssh id) */
    char *env;               /* secret env=NAME; NULL when not given, "" given empty */
    bool readonly;           /* bind/secret/ssh default true, cache/tmpfs false */
    bool required;           /* secret/ssh only */
    bool sharing_set;
    enum df_mount_sharing sharing;   /* cache only; default shared */
    int64_t size;                    /* tmpfs size= in bytes (go-units RAMInBytes); 0 = none */
    bool has_mode, has_uid, has_gid; /* given explicitly (cache/secret/ssh only) */
    uint32_t mode, uid, gid;         /* the given value, else the default (mode: cache 0755,
                                        secret 0400, ssh 0600; uid/gid 0) */
    bool id_set, target_set;         /* id / target given (false: filled by defaults) */
};

/*
 * Parse one --mount CSV value. When env is not NULL every value is expanded with ProcessWord
 * first (BuildKit expands them all; `from` cannot hold a variable because df_instr_from_node
 * already rejected any '$' in it). Keys are case-insensitive; only ro/readonly, rw/readwrite and
 * required may appear without a value. Defaults are not applied (df_run_mounts_finish does).
 */
int df_mount_parse(struct df_mount *out, const char *csv, const struct df_env *env,
                   const struct df_expand_opts *opts, struct sw_error **err);
/* The parse-time check of an unexpanded --mount value: CSV syntax and `from` without '$'. */
int df_mount_precheck(const char *csv, struct sw_error **err);
/*
 * Apply dockerfile2llb's conversion-time defaults and checks to the mounts of one RUN:
 * cache: id = target when not given, sharing shared, mode 0755; secret: id = source, else id,
 * else basename(target) ("one of source, target required" when none), target =
 * /run/secrets/<basename(id)> unless env= is given, mode 0400; ssh: "ssh does not support
 * source", id "default", target /run/buildkit/ssh_agent.<n> (n counts the ssh mounts of this RUN
 * from 0), mode 0600.
 */
int df_run_mounts_finish(struct df_mount *mounts, size_t n, struct sw_error **err);
void df_mount_clear(struct df_mount *m);
const char *df_mount_type_name(enum df_mount_type t);

struct df_device {
    char *name;
    bool required;
};
/* RUN --device=<name>[,required[=bool]] or name=<name>,... (BuildKit ParseDevice). */
int df_device_parse(struct df_device *out, const char *csv, struct sw_error **err);
void df_device_clear(struct df_device *d);

/* Go encoding/csv-style split of one record (quotes "..." with "" escapes). */
int df_csv_fields(struct sw_strv *out, const char *s, struct sw_error **err);

enum df_network { DF_NETWORK_DEFAULT, DF_NETWORK_NONE, DF_NETWORK_HOST };
enum df_security { DF_SECURITY_SANDBOX, DF_SECURITY_INSECURE };

/* ---- per-instruction payloads ---------------------------------------------------------------- */

/* FROM [--platform=p] image [AS name] */
struct df_from {
    char *base;     /* image reference (expanded by df_instr_expand with the env given: the
                       resolver passes global ARGs) */
    char *name;     /* stage name, lower-cased; NULL without AS */
    char *platform; /* --platform value; NULL when not given (expanded like base) */
    char *doc;      /* doc comment for the stage name ("" when none) */
};

/* A heredoc of RUN: mounted/run at dispatch (Chomp is applied there). */
struct df_inline_file {
    char *name;
    char *data; /* the body, unchomped */
    bool chomp;
};

struct df_run {
    struct sw_strv cmdline;       /* shell form: one string (the raw text); exec: the array */
    bool prepend_shell;           /* false in exec form */
    struct df_inline_file *files; /* heredocs, in order */
    size_t nfiles;
    struct sw_strv mount_specs; /* raw --mount values */
    struct df_mount *mounts;    /* parsed from mount_specs by df_instr_expand */
    size_t nmounts;
    bool mounts_parsed;
    enum df_network network;   /* --network, default "default" */
    enum df_security security; /* --security, default "sandbox" */
    struct df_device *devices; /* --device (repeatable) */
    size_t ndevices;
};

/* CMD / ENTRYPOINT */
struct df_cmdline {
    struct sw_strv cmdline;
    bool prepend_shell;
    bool is_nil; /* ENTRYPOINT with no arguments (ENTRYPOINT []): resets the entrypoint */
};

/* ENV / LABEL */
struct df_kvp {
    char *key;
    char *value;
    bool no_delim; /* legacy "KEY value" form */
};
struct df_kvps {
    struct df_kvp *v;
    size_t n;
    bool legacy; /* any pair in the legacy form: warn LegacyKeyValueFormat */
};

/* ARG */
struct df_arg_pair {
    char *key;
    char *value; /* NULL: declared without a default */
    char *doc;   /* doc comment ("" when none) */
};
struct df_args {
    struct df_arg_pair *v;
    size_t n;
};

/* A COPY/ADD heredoc source. */
struct df_source_content {
    char *path; /* the heredoc name: the file name in the destination */
    char *data; /* already chomped for <<- ; expanded by df_instr_expand when expand is true */
    bool expand;
};

/* COPY / ADD */
struct df_copy {
    struct sw_strv src_paths;           /* non-heredoc sources, in order */
    struct df_source_content *contents; /* heredoc sources, in order */
    size_t ncontents;
    char *dest;
    char *from;              /* COPY --from; NULL when not given (never expanded) */
    char *chown;             /* --chown raw/expanded; NULL when not given */
    char *chmod;             /* --chmod; NULL when not given (validated after expansion) */
    bool link;               /* --link */
    bool parents;            /* COPY --parents */
    struct sw_strv excludes; /* --exclude (repeatable), not expanded */
    char *checksum;          /* ADD --checksum; NULL when not given */
    int keep_git_dir;        /* ADD --keep-git-dir: -1 not given, 0/1 */
    int unpack;              /* ADD --unpack: -1 not given, 0/1 */
};

/* HEALTHCHECK */
struct df_health {
    struct sw_strv test; /* ["NONE"], ["CMD-SHELL", s] or ["CMD", argv...] */
    int64_t interval, timeout, start_period, start_interval; /* ns; 0 = not given */
    int retries;
};

/* ONBUILD */
struct df_onbuild {
    char *trigger;    /* the wrapped instruction's keyword, upper-cased ("RUN") */
    char *expression; /* the original text without the ONBUILD prefix, heredoc bodies appended
                         ("\n" + body + name each): what goes into the image's OnBuild list */
};

/* EXPOSE */
struct df_expose {
    struct sw_strv ports;   /* raw words, sorted (BuildKit sorts them); expanded (split) in place */
    struct sw_strv exposed; /* "port/proto" after df_instr_expand, in order */
};

/* ---- the instruction ------------------------------------------------------------------------- */

struct df_instr {
    enum df_kind kind;
    struct sw_span span; /* the node's span (span.file points into file_buf) */
    char *file_buf;
    char *code;                /* the original text, trimmed (BuildKit's String(); history) */
    char *keyword;             /* the keyword as written ("run", "RUN", ...) */
    struct sw_strv args;       /* raw argument words (BuildKit's nodeArgs) */
    struct sw_strv flags;      /* raw flag words ("--from=x") */
    bool json;                 /* exec (JSON array) form */
    struct sw_strv flags_used; /* names of the flags given, in order (RUN's FlagsUsed) */
    bool expanded;             /* df_instr_expand ran (it runs once) */
    union {
        struct df_from from;       /* DF_FROM */
        struct df_run run;         /* DF_RUN */
        struct df_cmdline cmd;     /* DF_CMD, DF_ENTRYPOINT */
        struct sw_strv shell;      /* DF_SHELL */
        struct df_kvps kvps;       /* DF_ENV, DF_LABEL */
        struct df_args arg;        /* DF_ARG */
        struct df_copy copy;       /* DF_COPY, DF_ADD */
        char *path;                /* DF_WORKDIR */
        char *user;                /* DF_USER */
        struct sw_strv volumes;    /* DF_VOLUME */
        struct df_expose expose;   /* DF_EXPOSE */
        char *signal;              /* DF_STOPSIGNAL */
        struct df_health health;   /* DF_HEALTHCHECK */
        struct df_onbuild onbuild; /* DF_ONBUILD */
        char *maintainer;          /* DF_MAINTAINER */
    } u;
};

/*
 * Parse and validate one node. Errors: "unknown instruction: FOO" (keyword as written, with a
 * "(did you mean RUN?)" suggestion when close), "<KW> requires exactly one argument", "unknown
 * flag: --x", ... On success *out is owned by the caller (df_instr_free).
 */
int df_instr_from_node(struct df_instr **out, const struct df_node *node, struct sw_error **err);

/*
 * Expand what BuildKit expands, in place (once per instruction; parse the node again for another
 * scope). ProcessWord for ENV/LABEL keys and values, ARG keys and values, COPY/ADD sources, dest,
 * --chown, --chmod, ADD --checksum, WORKDIR, USER, VOLUME, STOPSIGNAL, FROM image and --platform;
 * ProcessWords for EXPOSE (then the port specs are parsed into `exposed`); RUN --mount values
 * (then the mounts are parsed and df_run_mounts_finish applied); COPY/ADD heredoc bodies with
 * Expand true (escape '\\', quotes kept). RUN/CMD/ENTRYPOINT/HEALTHCHECK/SHELL/MAINTAINER/ONBUILD
 * are left alone. Checks made after expansion: COPY source URL ("source can't be a URL for
 * COPY"), COPY --from holding a variable, --chmod syntax, empty VOLUME, empty FROM base name.
 */
int df_instr_expand(struct df_instr *in, const struct df_env *env,
                    const struct df_expand_opts *opts, struct sw_error **err);

void df_instr_free(struct df_instr *in);

/* ---- value helpers --------------------------------------------------------------------------- */

/* handleJSONArgs: exec form keeps args; shell form joins them with one space (none -> none). */
int df_handle_json_args(struct sw_strv *out, char *const *args, size_t n, bool json);

/* Go time.ParseDuration (ns). Errors like Go's: `time: invalid duration "x"`. */
int df_parse_duration(int64_t *ns, const char *s, struct sw_error **err);
/* Go time.Duration.String(), appended to out ("1m30s", "100ms", "0s"). */
int df_format_duration(struct sw_buf *out, int64_t ns);
/* BuildKit parseOptInterval: "" -> 0; 0 OK; otherwise >= 1ms
 * (`Interval "interval" cannot be less than 1ms`). */
int df_parse_opt_interval(int64_t *ns, const char *flag, const char *value, struct sw_error **err);
/* The history created_by text: `HEALTHCHECK {Test:[...] Interval:1s ... Retries:5}` (Go %+v). */
char *df_health_history(const struct df_health *h);

/* dockerfile2llb parsePortSpec / parsePortSpecs: append "port/proto" entries to out. */
int df_parse_port_spec(struct sw_strv *out, const char *spec, struct sw_error **err);
int df_parse_port_specs(struct sw_strv *out, char *const *specs, size_t n, struct sw_error **err);

/* --chmod: octal up to 07777, or symbolic ([ugoa]*[-+=][rwxXst]*, comma-separated). */
int df_chmod_validate(const char *s, struct sw_error **err);
/* Octal value of a valid octal --chmod; -1 if it is symbolic. */
long df_chmod_octal(const char *s);
/* http:// or https:// (BuildKit isHTTPSource). */
bool df_is_url(const char *s);

/* ---- env helpers (dockerfile2llb) ------------------------------------------------------------ */

/* parseKeyValue: "k=v" -> k, v; "k" -> k, "". Both owned by the caller. */
int df_parse_key_value(char **key, char **value, const char *kv);
/* addEnv: replace the first entry whose key is `key` ("k=..." or a bare "k"), else append. */
int df_env_list_add(struct sw_strv *env, const char *key, const char *value);
/*
 * toEnvMap: the environment of a RUN as "k=v" entries, one per key, in first-seen order: ENV
 * entries first (the last duplicate wins; a bare "k" is "k="), then ARGs whose key is not set yet
 * (the first duplicate wins; an ARG without a value is skipped).
 */
int df_env_to_map(struct sw_strv *out, const struct df_arg_pair *args, size_t nargs,
                  char *const *env, size_t nenv);

struct df_proxy_env {
    char *http_proxy, *https_proxy, *ftp_proxy, *no_proxy, *all_proxy; /* NULL when unset */
};
/* proxyEnvFromBuildArgs over "k=v" build args: keys match case-insensitively and the lower-case
 * spelling wins over any other. Returns 1 if any proxy arg was found, 0 if none, <0 on OOM. */
int df_proxy_env_from_build_args(struct df_proxy_env *out, char *const *build_args, size_t n);
void df_proxy_env_clear(struct df_proxy_env *p);

enum df_sde_kind {
    DF_SDE_UNSET,   /* "" */
    DF_SDE_TIME,    /* a Unix timestamp: *epoch */
    DF_SDE_CONTEXT, /* "context": resolved from the main context's metadata (or ignored) */
    DF_SDE_STAGE,   /* the name of a stage (case-insensitive): *stage is its index */
};
/* resolveSourceDateEpochValue's syntax part. Error: "invalid SOURCE_DATE_EPOCH: <v>". */
int df_source_date_epoch(enum df_sde_kind *kind, int64_t *epoch, size_t *stage, const char *v,
                         char *const *stage_names, size_t nstages, struct sw_error **err);

#endif
