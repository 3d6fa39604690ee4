/*
 * builder/dockerfile/lower.h: the Dockerfile frontend's last step, a resolved build into a plan.
 *
 * Owns: turning the stages the target needs (stages.h) into the frontend-neutral build plan
 * (plan/plan.h): one source op per base image and platform, a chain of ops per stage, COPY's
 * second input (the context, a stage, an image), BuildKit's step labels. Everything that needs a
 * base image's config stays symbolic for the solver.
 */
#ifndef SLIPWAY_DF_LOWER_H
#define SLIPWAY_DF_LOWER_H

#include "../plan/plan.h"
#include "stages.h"

/* Lower a resolved Dockerfile into a plan. Only needed stages get ops. `context_dir` may be
 * NULL (no context: COPY from it fails at solve time); ignore are the .dockerignore patterns. */
int df_lower(struct plan **out, const struct df_build *b, const char *context_dir,
             const struct sw_strv *ignore, struct sw_error **err);

#endif
