#include "progress.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define MAX_ACTIVE 64

struct step {
    unsigned id;
    char *name;
    struct timespec start;
    bool active;
};

struct progress {
    enum progress_mode mode;
    FILE *out;
    pthread_mutex_t lock;
    struct timespec start;
    struct step *steps;
    size_t nsteps;
    unsigned tty_lines; /* lines of the live block currently on screen */
    unsigned max_id;    /* the highest step id seen: the final lines come after it */
    /* tty: a ticker thread redraws the running steps' durations */
    pthread_t ticker;
    pthread_cond_t stop_cond;
    bool ticking, stopping;
};

static void tty_clear(struct progress *p);
static void tty_draw(struct progress *p);

static void *
tick(void *arg)
{
    struct progress *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 200 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->stop_cond, &p->lock, &until);
        if (!p->stopping && p->tty_lines) {
            tty_clear(p);
            tty_draw(p);
        }
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static double
since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

int
progress_mode_parse(enum progress_mode *mode, const char *s, FILE *out, struct sw_error **err)
{
    if (!s || !strcmp(s, "auto"))
        *mode = out && isatty(fileno(out)) ? PROGRESS_TTY : PROGRESS_PLAIN;
    else if (!strcmp(s, "tty"))
        *mode = PROGRESS_TTY;
    else if (!strcmp(s, "plain"))
        *mode = PROGRESS_PLAIN;
    else if (!strcmp(s, "json") || !strcmp(s, "rawjson"))
        *mode = PROGRESS_JSON;
    else if (!strcmp(s, "quiet"))
        *mode = PROGRESS_QUIET;
    else
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "invalid --progress \"%s\": expected auto, tty, plain, json or quiet",
                            s);
    return 0;
}

int
progress_new(struct progress **out, enum progress_mode mode, FILE *stream, struct sw_error **err)
{
    struct progress *p = calloc(1, sizeof *p);
    if (!p)
        return sw_error_oom(err);
    p->mode = mode;
    p->out = stream;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->stop_cond, NULL);
    clock_gettime(CLOCK_MONOTONIC, &p->start);
    if (mode == PROGRESS_TTY)
        p->ticking = pthread_create(&p->ticker, NULL, tick, p) == 0;
    *out = p;
    return 0;
}

void
progress_free(struct progress *p)
{
    if (!p)
        return;
    if (p->ticking) {
        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_signal(&p->stop_cond);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->ticker, NULL);
    }
    for (size_t i = 0; i < p->nsteps; i++)
        free(p->steps[i].name);
    free(p->steps);
    pthread_cond_destroy(&p->stop_cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static struct step *
find_step(struct progress *p, unsigned id)
{
    for (size_t i = 0; i < p->nsteps; i++)
        if (p->steps[i].id == id)
            return &p->steps[i];
    return NULL;
}

/* ---- JSON lines --------------------------------------------------------------------------------
 */

static json_t *
span_json(const struct sw_span *s)
{
    if (!s || !s->file)
        return json_null();
    return json_pack("{s:s, s:i, s:i, s:i}", "file", s->file, "line", (int)s->line, "col",
                     (int)s->col, "end_line", (int)(s->end_line ? s->end_line : s->line));
}

static void
emit_json(struct progress *p, const char *type, json_t *body)
{
    char now[40];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(now + n, sizeof now - n, ".%03ldZ", ts.tv_nsec / 1000000);
    json_object_set_new(body, "v", json_integer(PROGRESS_PROTOCOL_VERSION));
    json_object_set_new(body, "type", json_string(type));
    json_object_set_new(body, "time", json_string(now));
    char *s = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    if (s) {
        fprintf(p->out, "%s\n", s);
        fflush(p->out);
        free(s);
    }
    json_decref(body);
}

/* ---- the terminal view: finished lines scroll, active steps stay at the bottom ------------------
 */

static void
tty_clear(struct progress *p)
{
    for (unsigned i = 0; i < p->tty_lines; i++)
        fputs("\x1b[1A\x1b[2K", p->out);
    p->tty_lines = 0;
}

static void
tty_draw(struct progress *p)
{
    for (size_t i = 0; i < p->nsteps; i++) {
        struct step *s = &p->steps[i];
        if (!s->active)
            continue;
        fprintf(p->out, "\x1b[36m => %s %.1fs\x1b[0m\n", s->name, since(&s->start));
        p->tty_lines++;
    }
    fflush(p->out);
}

/* ---- events ------------------------------------------------------------------------------------
 */

void
progress_build_start(struct progress *p, const char *file, const char *target, unsigned steps)
{
    pthread_mutex_lock(&p->lock);
    if (p->mode == PROGRESS_JSON)
        emit_json(p, "build.start",
                  json_pack("{s:s, s:o, s:i}", "file", file ? file : "", "target",
                            target ? json_string(target) : json_null(), "steps", (int)steps));
    else if (p->mode == PROGRESS_PLAIN)
        fprintf(p->out, "#0 building %s%s%s (%u steps)\n", file ? file : "",
                target ? ", target " : "", target ? target : "", steps);
    pthread_mutex_unlock(&p->lock);
}

void
progress_step_start(struct progress *p, unsigned id, const char *name, const struct sw_span *span)
{
    pthread_mutex_lock(&p->lock);
    struct step *v = realloc(p->steps, (p->nsteps + 1) * sizeof *v);
    if (v) {
        p->steps = v;
        struct step *s = &v[p->nsteps++];
        s->id = id;
        s->name = strdup(name ? name : "");
        s->active = true;
        clock_gettime(CLOCK_MONOTONIC, &s->start);
    }
    if (id > p->max_id)
        p->max_id = id;
    switch (p->mode) {
    case PROGRESS_JSON:
        emit_json(p, "step.start",
                  json_pack("{s:i, s:s, s:o}", "id", (int)id, "name", name ? name : "", "span",
                            span_json(span)));
        break;
    case PROGRESS_PLAIN:
        fprintf(p->out, "#%u %s\n", id, name ? name : "");
        fflush(p->out);
        break;
    case PROGRESS_TTY:
        tty_clear(p);
        tty_draw(p);
        break;
    case PROGRESS_QUIET:
        break;
    }
    pthread_mutex_unlock(&p->lock);
}

void
progress_step_log(struct progress *p, unsigned id, const char *stream, const char *data, size_t len)
{
    pthread_mutex_lock(&p->lock);
    if (p->mode == PROGRESS_JSON) {
        emit_json(
            p, "step.log",
            json_pack("{s:i, s:s, s:s%}", "id", (int)id, "stream", stream, "data", data, len));
    } else if (p->mode == PROGRESS_PLAIN || p->mode == PROGRESS_TTY) {
        if (p->mode == PROGRESS_TTY)
            tty_clear(p);
        const char *s = data, *end = data + len;
        while (s < end) {
            const char *nl = memchr(s, '\n', (size_t)(end - s));
            size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
            fprintf(p->out, "#%u %.3f %.*s\n", id, since(&p->start), (int)n, s);
            s += n + 1;
        }
        if (p->mode == PROGRESS_TTY)
            tty_draw(p);
        fflush(p->out);
    }
    pthread_mutex_unlock(&p->lock);
}

void
progress_step_end(struct progress *p, unsigned id, enum progress_status status, const char *error)
{
    static const char *const names[] = {"done", "cached", "error", "canceled"};
    pthread_mutex_lock(&p->lock);
    struct step *s = find_step(p, id);
    double secs = s ? since(&s->start) : 0;
    if (s)
        s->active = false;
    switch (p->mode) {
    case PROGRESS_JSON: {
        json_t *b = json_pack("{s:i, s:s, s:I}", "id", (int)id, "status", names[status],
                              "duration_ms", (json_int_t)(secs * 1000));
        if (error)
            json_object_set_new(b, "error", json_string(error));
        emit_json(p, "step.end", b);
        break;
    }
    case PROGRESS_PLAIN:
        if (status == PROGRESS_CACHED)
            fprintf(p->out, "#%u CACHED\n", id);
        else if (status == PROGRESS_ERROR)
            fprintf(p->out, "#%u ERROR: %s\n", id, error ? error : "failed");
        else if (status == PROGRESS_CANCELED)
            fprintf(p->out, "#%u CANCELED\n", id);
        else
            fprintf(p->out, "#%u DONE %.1fs\n", id, secs);
        fflush(p->out);
        break;
    case PROGRESS_TTY:
        tty_clear(p);
        if (s && status == PROGRESS_ERROR)
            fprintf(p->out, "\x1b[31m => ERROR %s: %s\x1b[0m\n", s->name, error ? error : "failed");
        else if (s && status == PROGRESS_CACHED)
            fprintf(p->out, "\x1b[34m => CACHED %s\x1b[0m\n", s->name);
        else if (s)
            fprintf(p->out, "\x1b[34m => %s %.1fs\x1b[0m\n", s->name, secs);
        tty_draw(p);
        break;
    case PROGRESS_QUIET:
        break;
    }
    pthread_mutex_unlock(&p->lock);
}

void
progress_warning(struct progress *p, const char *rule, const char *message,
                 const struct sw_span *span)
{
    pthread_mutex_lock(&p->lock);
    if (p->mode == PROGRESS_JSON) {
        emit_json(p, "warning",
                  json_pack("{s:s, s:s, s:o}", "rule", rule ? rule : "", "message", message, "span",
                            span_json(span)));
    } else if (p->mode != PROGRESS_QUIET) {
        if (p->mode == PROGRESS_TTY)
            tty_clear(p);
        if (span && span->file)
            fprintf(p->out, "%s:%u:%u: warning: %s (%s)\n", span->file, span->line, span->col,
                    message, rule ? rule : "");
        else
            fprintf(p->out, "warning: %s (%s)\n", message, rule ? rule : "");
        if (p->mode == PROGRESS_TTY)
            tty_draw(p);
        fflush(p->out);
    }
    pthread_mutex_unlock(&p->lock);
}

void
progress_error(struct progress *p, const struct sw_error *err)
{
    pthread_mutex_lock(&p->lock);
    if (p->mode == PROGRESS_JSON) {
        char *loc = sw_error_format(err);
        emit_json(p, "error",
                  json_pack("{s:s, s:o, s:s}", "message", err && err->msg ? err->msg : "error",
                            "span", span_json(err ? &err->span : NULL), "formatted",
                            loc ? loc : ""));
        free(loc);
    }
    pthread_mutex_unlock(&p->lock);
}

void
progress_build_end(struct progress *p, bool success, const char *image_digest,
                   const char *const *tags, size_t ntags)
{
    pthread_mutex_lock(&p->lock);
    double secs = since(&p->start);
    if (p->mode == PROGRESS_JSON) {
        json_t *t = json_array();
        for (size_t i = 0; i < ntags; i++)
            json_array_append_new(t, json_string(tags[i]));
        emit_json(p, "build.end",
                  json_pack("{s:s, s:I, s:o, s:o}", "status", success ? "success" : "failure",
                            "duration_ms", (json_int_t)(secs * 1000), "image",
                            image_digest ? json_string(image_digest) : json_null(), "tags", t));
    } else if (p->mode == PROGRESS_PLAIN || p->mode == PROGRESS_TTY) {
        if (p->mode == PROGRESS_TTY)
            tty_clear(p);
        if (success) {
            fprintf(p->out, "#%u %s %s in %.1fs\n", p->max_id + 1,
                    image_digest ? "writing image" : "build finished",
                    image_digest ? image_digest : "", secs);
            for (size_t i = 0; i < ntags; i++)
                fprintf(p->out, "#%u naming to %s\n", p->max_id + 1, tags[i]);
        }
        fflush(p->out);
    }
    pthread_mutex_unlock(&p->lock);
}
