/*
 * builder/cli/build_secrets.h: `slipway build --secret` and `--ssh` values.
 *
 * Owns: parsing docker buildx's forms into the solver's lists (struct solve_secret,
 * struct solve_ssh) and checking up front that every file and socket named exists. Secrets are
 * never read here. See docs/run-mounts.md.
 */
#ifndef SLIPWAY_CLI_BUILD_SECRETS_H
#define SLIPWAY_CLI_BUILD_SECRETS_H

#include "solve/solve.h"
#include "util/buf.h"
#include "util/error.h"

struct build_secrets {
    struct solve_secret *secrets; /* strings owned */
    size_t nsecrets;
    struct solve_ssh *ssh; /* strings owned */
    size_t nssh;
};

/*
 * --secret id=ID[,src=FILE|source=FILE][,env=VAR][,type=file|env]: without src and env the
 * value comes from the variable named ID when it is set, else from the file named ID.
 * --ssh default | default=SOCKET | ID=SOCKET: without a socket, $SSH_AUTH_SOCK.
 * Errors name the flag and the value at fault; ids must be unique.
 */
int build_secrets_parse(struct build_secrets *out, const struct sw_strv *secrets,
                        const struct sw_strv *ssh, struct sw_error **err);
void build_secrets_clear(struct build_secrets *s);

#endif
