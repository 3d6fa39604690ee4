/*
 * tests/dockerfile/test_expand.c: unit tests for builder/dockerfile/expand.c (BuildKit's shell
 * lexer): env lookup, quoting and both escape tokens, every ${} modifier, the error texts, word
 * splitting, the raw modes the parser uses, matched/unmatched names and the glob helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "dockerfile/expand.h"
#include "util/buf.h"
#include "util/error.h"

/* ---- helpers --------------------------------------------------------------------------------- */

/* The fixed environment of BuildKit's envVarTest, plus a few values for the modifiers. */
static void
std_env(struct df_env *env)
{
    *env = (struct df_env){0};
    assert_int_equal(df_env_set(env, "PWD", "/home"), 0);
    assert_int_equal(df_env_set(env, "SHELL", "bash"), 0);
    assert_int_equal(df_env_set(env, "KOREAN", "한국어"), 0);
    assert_int_equal(df_env_set(env, "NULL", ""), 0);
    assert_int_equal(df_env_set(env, "SPACED", " a  b "), 0);
    assert_int_equal(df_env_set(env, "PATHV", "/usr/local/lib/x.tar.gz"), 0);
    assert_int_equal(df_env_set(env, "BANANA", "banana"), 0);
}

static const struct df_expand_opts plain = {.escape = '\\'};

/* Expand and compare the result exactly. */
static void
expect_word_opts(const char *word, const struct df_env *env, const struct df_expand_opts *opts,
                 const char *want)
{
    char *got = NULL;
    struct sw_error *err = NULL;
    int r = df_expand_word(&got, word, env, opts, NULL, NULL, &err);
    if (r < 0)
        fail_msg("%s: unexpected error: %s", word, err->msg);
    assert_null(err);
    if (strcmp(got, want) != 0)
        fail_msg("%s: got \"%s\", want \"%s\"", word, got, want);
    free(got);
}

static void
expect_word(const char *word, const struct df_env *env, const char *want)
{
    expect_word_opts(word, env, &plain, want);
}

/* Expand, require -SW_EINVAL and compare the whole message exactly. */
static void
expect_error_opts(const char *word, const struct df_env *env, const struct df_expand_opts *opts,
                  const char *want_msg)
{
    char *got = NULL;
    struct sw_error *err = NULL;
    int r = df_expand_word(&got, word, env, opts, NULL, NULL, &err);
    if (r >= 0)
        fail_msg("%s: expected an error, got \"%s\"", word, got);
    assert_int_equal(r, -SW_EINVAL);
    assert_non_null(err);
    assert_int_equal(err->code, SW_EINVAL);
    assert_null(got);
    if (strcmp(err->msg, want_msg) != 0)
        fail_msg("%s: got error \"%s\", want \"%s\"", word, err->msg, want_msg);
    sw_error_free(err);
}

static void
expect_error(const char *word, const struct df_env *env, const char *want_msg)
{
    expect_error_opts(word, env, &plain, want_msg);
}

/* ProcessWords, joined with '|' (no test word contains '|'). */
static void
expect_words_opts(const char *word, const struct df_env *env, const struct df_expand_opts *opts,
                  const char *want)
{
    struct sw_strv out = {0};
    struct sw_error *err = NULL;
    int r = df_expand_words(&out, word, env, opts, &err);
    if (r < 0)
        fail_msg("%s: unexpected error: %s", word, err->msg);
    struct sw_buf b = {0};
    for (size_t i = 0; i < out.n; i++) {
        assert_true(out.v[i][0] != '\0'); /* empty words are dropped */
        if (i)
            sw_buf_putc(&b, '|');
        sw_buf_puts(&b, out.v[i]);
    }
    if (strcmp(sw_buf_cstr(&b), want) != 0)
        fail_msg("%s: got words \"%s\", want \"%s\"", word, sw_buf_cstr(&b), want);
    sw_buf_free(&b);
    sw_strv_free(&out);
}

static void
expect_words(const char *word, const struct df_env *env, const char *want)
{
    expect_words_opts(word, env, &plain, want);
}

/* ---- environment ----------------------------------------------------------------------------- */

static void
test_env_lookup(void **state)
{
    (void)state;
    struct df_env env = {0};
    assert_null(df_env_get(&env, "foo", 3));
    assert_int_equal(sw_strv_push(&env.kv, "bare"), 0);
    assert_int_equal(sw_strv_push(&env.kv, "eq="), 0);
    assert_int_equal(df_env_set(&env, "foo", "bar"), 0);
    assert_int_equal(df_env_set(&env, "car", "hat"), 0);
    assert_int_equal(df_env_set(&env, "car", "bike"), 0);
    assert_int_equal(df_env_set(&env, "eqv", "a=b=c"), 0);
    assert_string_equal(env.kv.v[2], "foo=bar");

    assert_string_equal(df_env_get(&env, "bare", 4), ""); /* set but empty */
    assert_string_equal(df_env_get(&env, "eq", 2), "");
    assert_string_equal(df_env_get(&env, "foo", 3), "bar");
    assert_string_equal(df_env_get(&env, "car", 3), "bike");   /* last wins */
    assert_string_equal(df_env_get(&env, "eqv", 3), "a=b=c");  /* split at the first '=' */
    assert_string_equal(df_env_get(&env, "foobar", 3), "bar"); /* name_len counts */
    assert_null(df_env_get(&env, "fo", 2));
    assert_null(df_env_get(&env, "FOO", 3)); /* case-sensitive by default */
    assert_null(df_env_get(NULL, "foo", 3));

    env.case_insensitive = true; /* Windows */
    assert_string_equal(df_env_get(&env, "FOO", 3), "bar");
    assert_int_equal(df_env_set(&env, "CAR", "train"), 0);
    assert_string_equal(df_env_get(&env, "car", 3), "train"); /* last wins across cases */
    df_env_free(&env);
    assert_int_equal(env.kv.n, 0);
}

static void
test_case_insensitive_expansion(void **state)
{
    (void)state;
    struct df_env env;
    std_env(&env);
    expect_word("he$pwd.", &env, "he.");
    env.case_insensitive = true;
    expect_word("he$pwd.", &env, "he/home.");
    expect_word("${Shell:-x}", &env, "bash");
    df_env_free(&env);
}

/* ---- quoting and escapes --------------------------------------------------------------------- */

static void
test_quotes(void **state)
{
    (void)state;
    struct df_env env;
    std_env(&env);
    expect_word("hello", &env, "hello");
    expect_word("he'll'o", &env, "hello");
    expect_word("he\\'llo", &env, "he'llo");
    expect_word("\"hel'lo\"", &env, "hel'lo");
    expect_word("\"''\"", &env, "''");
    expect_word("'\"hello\"'", &env, "\"hello\"");
    expect_word("'he${XX}'", &env, "he${XX}");
    expect_word("'$PWD'", &env, "$PWD");
    expect_word("\"$PWD\"", &env, "/home");
    expect_word("\"he'$PWD'\"", &env, "he'/home'");
    expect_word("a\" b \"c", &env, "a b c");
    expect_word("안'녕'하세요", &env, "안녕하세요");
    expect_error("he'llo", &env,
                 "failed to process \"he'llo\": "
                 "unexpected end of statement while looking for matching single-quote");
    expect_error("\"hello", &env,
                 "failed to process \"\\\"hello\": "
                 "unexpected end of statement while looking for matching double-quote");
    expect_error("\"hello\\\"", &env,
                 "failed to process \"\\\"hello\\\\\\\"\": "
                 "unexpected end of statement while looking for matching double-quote");
    df_env_free(&env);
}

static void
test_backslash_escape(void **state)
{
    (void)state;
    struct df_env env;
    std_env(&env);
    expect_word("abc\\tdef", &env, "abctdef");       /* unquoted: \c -> c */
    expect_word("\"abc\\tdef\"", &env, "abc\\tdef"); /* quoted: only \" \$ \\ escape */
    expect_word("\"abc\\\\tdef\"", &env, "abc\\tdef");
    expect_word("\"a\\\"b\"", &env, "a\"b");
    expect_word("'abc\\tdef'", &env, "abc\\tdef"); /* single: nothing escapes */
    expect_word("'hello\\'", &env, "hello\\");
    expect_word("hello\\", &env, "hello"); /* a trailing escape is dropped */
    expect_word("hello\\\\", &env, "hello\\");
    expect_word("he\\$PWD", &env, "he$PWD");
    expect_word("he\\\\$PWD", &env, "he\\/home");
    expect_word("\"he\\$PWD\"", &env, "he$PWD");
    expect_word("\\${}aaa", &env, "${}aaa");
    expect_word("a\\`b", &env, "a`b");
    expect_error("he\\\\'llo", &env,
                 "failed to process \"he\\\\\\\\'llo\": "
                 "unexpected end of statement while looking for matching single-quote");
    df_env_free(&env);
}

static void
test_backtick_escape(void **state)
{
    (void)state;
    struct df_env env;
    std_env(&env);
    const struct df_expand_opts bt = {.escape = '`'};
    expect_word_opts("C:\\path\\$PWD", &env, &bt, "C:\\path\\/home"); /* \ is ordinary */
    expect_word_opts("a`$PWD", &env, &bt, "a$PWD");
    expect_word_opts("a``b", &env, &bt, "a`b");
    expect_word_opts("a`", &env, &bt, "a");
    expect_word_opts("\"a`\"b\"", &env, &bt, "a\"b");
    expect_word_opts("\"a`tb\"", &env, &bt, "a`tb");
    expect_word_opts("\"a\\tb\"", &env, &bt, "a\\tb");
    expect_word_opts("${X:-a`}b}", &env, &bt, "a}b");
    expect_words_opts("a` b c", &env, &bt, "a b|c");
    /* patterns always escape with \, whatever the escape token */
    expect_word_opts("${PATHV#*\\/}", &env, &bt, "usr/local/lib/x.tar.gz");
    df_env_free(&env);
}

/* ---- $NAME and ${NAME} ----------------------------------------------------------------------- */

static void
test_simple_references(void **state)
{
    (void)state;
    struct df_env env;
    std_env(&env);
    expect_word("he$PWD", &env, "he/home");
    expect_word("he${PWD}xx", &env, "he/homexx");
    expect_word("he${hi}xx", &env, "hexx");
    expect_word("$.", &env, "$.");
    expect_word("a$", &env, "a$");
    expect_word("a$ b", &env, "a$ b");
    expect_word("he$1x", &env, "hex"); /* positional: all the digits */
    expect_word("$001aaa", &env, "aaa");
    expect_word("${999:-bbb}aaa", &env, "bbbaaa");
    expect_word("$@@@", &env, "@@"); /* specials are one character */
    expect_word("$$x", &env, "x");
    expect_word("${#}", &env, "");
    expect_word("${-:-bbb}", &env, "bbb");
    expect_word("$PWD.x", &env, "/home.x");
    expect_word("$PWD-x", &env, "/home-x");
    expect_word("$PWD_x", &env, "");   /* _ is part of the name */
    expect_word("${aaa}}", &env, "}"); /* a stray } is literal */
    expect_word("$KOREAN", &env, "한국어");
    expect_word("안녕$KOREAN", &env, "안녕한국어");
    expect_word("$KOREAN한", &env, "");               /* Unicode letters continue a name */
    expect_word("$PWD\u00a0x", &env, "/home\u00a0x"); /* NBSP is not a letter */
    expect_word("${PWD}", NULL, "");                  /* no env: all unset */
    df_env_free(&env);
}

static void
test_syntax_errors(void **state)
{
    (void)state;
    struct df_env env;
    std_env(&env);
    expect_error("${}", &env, "failed to process \"${}\": syntax error: bad substitution");
    expect_error("he${}xx", &env, "failed to process \"he${}xx\": syntax error: bad substitution");
    expect_error("${:}", &env, "failed to process \"${:}\": syntax error: bad substitution");
    expect_error("${:-bbb}", &env,
                 "failed to process \"${:-bbb}\": syntax error: bad substitution");
    expect_error("${{aaa}", &env, "failed to process \"${{aaa}\": syntax error: bad substitution");
    expect_error("${", &env, "failed to process \"${\": syntax error: missing '}'");
    expect_error("${aaa", &env, "failed to process \"${aaa\": syntax error: missing '}'");
    expect_error("${aaa:-bbb", &env, "failed to process \"${aaa:-bbb\": syntax error: missing '}'");
    expect_error("${aaa:-bbb ${foo}", &env,
                 "failed to process \"${aaa:-bbb ${foo}\": syntax error: missing '}'");
    expect_error("${x:-'a}", &env, "failed to process \"${x:-'a}\": syntax error: missing '}'");
    expect_error("${x:", &env, "failed to process \"${x:\": syntax error: missing '}'");
    expect_error("he${.}", &env,
                 "failed to process \"he${.}\": unsupported modifier (.) in substitution");
    expect_error("${x:-${.}}", &env,
                 "failed to process \"${x:-${.}}\": unsupported modifier (.) in substitution");
    expect_error("${x y}", &env,
                 "failed to process \"${x y}\": unsupported modifier ( ) in substitution");
    expect_error("\t${}", &env, "failed to process \"\\t${}\": syntax error: bad substitution");
    df_env_free(&env);
}

/* ---- modifiers ------------------------------------------------------------------------------- */

static void
test_modifier_default_and_alternative(void **state)
{
    (void)state;
    struct df_env env;
    std_env(&env);
    /* :- treats empty as unset, - only unset */
    expect_word("${XXX:-000}", &env, "000");
    expect_word("${NULL:-000}", &env, "000");
    expect_word("${PWD:-000}", &env, "/home");
    expect_word("${XXX-000}", &env, "000");
    expect_word("${NULL-000}", &env, "");
    expect_word("${PWD-000}", &env, "/home");
    /* :+ and + */
    expect_word("${XXX:+000}", &env, "");
    expect_word("${NULL:+000}", &env, "");
    expect_word("${PWD:+000}", &env, "000");
    expect_word("${XXX+000}", &env, "");
    expect_word("${NULL+000}", &env, "000");
    expect_word("${PWD+000}", &env, "000");
    /* nested words, quotes and escapes in the word */
    expect_word("he${XXX:-${PWD:-yyy}}xx", &env, "he/homexx");
    expect_word("he${XXX:-${YYY:-yyy}}xx", &env, "heyyyxx");
    expect_word("he${PWD:+${SHELL}}xx", &env, "hebashxx");
    expect_word("he${PWD:+${PWD}:}xx", &env, "he/home:xx");
    expect_word("he${XXX:-\\$PWD:}xx", &env, "he$PWD:xx");
    expect_word("he${XXX:-\\${PWD}z}xx", &env, "he${PWDz}xx");
    expect_word("${XXX:-'a}b' \"$SHELL\"}", &env, "a}b bash");
    expect_word("${XXX:-a\\}b}", &env, "a}b");
    expect_word("${aaa:-bbb {foo}", &env, "bbb {foo");
    expect_word("${XXX:-}", &env, "");
    df_env_free(&env);
}

static void
test_modifier_required(void **state)
{
    (void)state;
    struct df_env env;
    std_env(&env);
    expect_word("he${PWD?}", &env, "he/home");
    expect_word("he${PWD:?}", &env, "he/home");
    expect_word("he${NULL?}", &env, "he");
    expect_word("${NULL?msg}", &env, "");
    expect_error("he${XXX?}", &env,
                 "failed to process \"he${XXX?}\": XXX: is not allowed to be unset");
    expect_error("${XXX:?}", &env,
                 "failed to process \"${XXX:?}\": XXX: is not allowed to be unset");
    expect_error("${NULL:?}", &env,
                 "failed to process \"${NULL:?}\": NULL: is not allowed to be empty");
    expect_error("${XXX:?need $SHELL here}", &env,
                 "failed to process \"${XXX:?need $SHELL here}\": XXX: need bash here");
    expect_error("${NULL:?msg}", &env, "failed to process \"${NULL:?msg}\": NULL: msg");
    expect_error("${XXX?msg}", &env, "failed to process \"${XXX?msg}\": XXX: msg");
    df_env_free(&env);
}

static void
test_unsupported_modifiers(void **state)
{
    (void)state;
    struct df_env env;
    std_env(&env);
    expect_error("${PWD:=000}", &env,
                 "failed to process \"${PWD:=000}\": unsupported modifier (:=) in substitution");
    expect_error("${XXX=000}", &env,
                 "failed to process \"${XXX=000}\": unsupported modifier (=) in substitution");
    expect_error("${XXX:YYY}", &env,
                 "failed to process \"${XXX:YYY}\": unsupported modifier (:Y) in substitution");
    expect_error("${PWD:#x}", &env,
                 "failed to process \"${PWD:#x}\": unsupported modifier (:#) in substitution");
    expect_error("${PWD:##x}", &env,
                 "failed to process \"${PWD:##x}\": unsupported modifier (:#) in substitution");
    expect_error("${PWD:%x}", &env,
                 "failed to process \"${PWD:%x}\": unsupported modifier (:%) in substitution");
    expect_error("${PWD:한}", &env,
                 "failed to process \"${PWD:한}\": unsupported modifier (:한) in substitution");
    df_env_free(&env);
}

static void
test_trim_prefix_suffix(void **state)
{
    (void)state;
    struct df_env env;
    std_env(&env);
    /* # shortest prefix, ## longest */
    expect_word("${PATHV#*/}", &env, "usr/local/lib/x.tar.gz");
    expect_word("${PATHV##*/}", &env, "x.tar.gz");
    expect_word("${PATHV#/usr}", &env, "/local/lib/x.tar.gz");
    expect_word("${PATHV#usr}", &env, "/usr/local/lib/x.tar.gz"); /* anchored */
    expect_word("${PATHV#}", &env, "/usr/local/lib/x.tar.gz");
    expect_word("${PATHV##}", &env, "/usr/local/lib/x.tar.gz");
    expect_word("${PATHV#*}", &env, "/usr/local/lib/x.tar.gz");
    expect_word("${PATHV##*}", &env, "");
    expect_word("${PATHV#?u}", &env, "sr/local/lib/x.tar.gz");
    /* % shortest suffix, %% longest */
    expect_word("${PATHV%.*}", &env, "/usr/local/lib/x.tar");
    expect_word("${PATHV%%.*}", &env, "/usr/local/lib/x");
    expect_word("${PATHV%/*}", &env, "/usr/local/lib");
    expect_word("${PATHV%%/*}", &env, "");
    expect_word("${PATHV%gz}", &env, "/usr/local/lib/x.tar.");
    expect_word("${PATHV%tar}", &env, "/usr/local/lib/x.tar.gz"); /* anchored at the end */
    expect_word("${PATHV%}", &env, "/usr/local/lib/x.tar.gz");
    expect_word("${XXX%%x}", &env, "");
    /* ? and * count characters, not bytes */
    expect_word("${KOREAN#?}", &env, "국어");
    expect_word("${KOREAN%?}", &env, "한국");
    expect_word("${KOREAN%%국*}", &env, "한");
    /* escapes: \* \? \\ are literal, \} and \/ escape the delimiter */
    struct df_env e2 = {0};
    assert_int_equal(df_env_set(&e2, "S", "a*b?c\\d}e/f"), 0);
    expect_word("${S#a\\*}", &e2, "b?c\\d}e/f");
    expect_word("${S#*\\?}", &e2, "c\\d}e/f");
    expect_word("${S#*\\\\}", &e2, "d}e/f");
    expect_word("${S#*\\}}", &e2, "e/f");
    expect_word("${S#*\\/}", &e2, "f");
    expect_word("${S%\\}*}", &e2, "a*b?c\\d");
    expect_word("${S#'a*'}", &e2, "*b?c\\d}e/f"); /* quotes are removed first: * is a glob */
    assert_int_equal(df_env_set(&e2, "T", "a\\bc"), 0);
    expect_word("${T#\"a\\b\"}", &e2, "c"); /* "a\b" lexes to a\\b: the literal a\b */
    expect_word("${S#$NOPE}", &e2, "a*b?c\\d}e/f");
    expect_error("${S#\\a}", &e2,
                 "failed to process \"${S#\\\\a}\": invalid pattern (\\a) in substitution: "
                 "invalid escape '\\a'");
    expect_error("${S%\\a}", &e2,
                 "failed to process \"${S%\\\\a}\": invalid pattern (\\a) in substitution: "
                 "invalid escape '\\a'");
    /* a pattern from a variable is a glob too */
    assert_int_equal(df_env_set(&e2, "P", "?*\\"), 0);
    expect_error("${S#$P}", &e2,
                 "failed to process \"${S#$P}\": invalid pattern (?*\\) in substitution: "
                 "invalid escape '\\' at end");
    /* like Go's regexp `.`, * and ? never match a newline */
    assert_int_equal(df_env_set(&e2, "NL", "a\nb\nc"), 0);
    expect_word("${NL#*b}", &e2, "a\nb\nc");
    expect_word("${NL##*}", &e2, "\nb\nc");
    expect_word("${NL%?c}", &e2, "a\nb\nc");
    expect_word("${NL#a?b}", &e2, "a\nb\nc");
    assert_int_equal(df_env_set(&e2, "NLP", "a\n"), 0);
    expect_word("${NL#$NLP}", &e2, "b\nc"); /* a literal newline matches */
    df_env_free(&e2);
    df_env_free(&env);
}

static void
test_replace(void **state)
{
    (void)state;
    struct df_env env;
    std_env(&env);
    expect_word("${BANANA/an/AN}", &env, "bANana");
    expect_word("${BANANA//an/AN}", &env, "bANANa");
    expect_word("${BANANA/a*n/X}", &env, "bXa"); /* leftmost, then longest */
    expect_word("${BANANA//?a/X}", &env, "XXX");
    expect_word("${BANANA/x/X}", &env, "banana");
    expect_word("${BANANA//a/}", &env, "bnn");
    expect_word("${BANANA/$NOPE/X}", &env, "Xbanana"); /* empty pattern matches at 0 */
    expect_word("${BANANA//$NOPE/-}", &env, "-b-a-n-a-n-a-");
    expect_word("${BANANA//*/-}", &env, "-"); /* no empty match right after a match */
    expect_word("${XXX/a/b}", &env, "");
    expect_word("${PATHV//\\//\\/}", &env, "\\/usr\\/local\\/lib\\/x.tar.gz");
    expect_word("${PATHV/\\/usr\\/local/}", &env, "/lib/x.tar.gz");
    /* // expands $0 / ${0} / $$ in the replacement like Go's ReplaceAllString; / does not */
    struct df_env e2 = {0};
    assert_int_equal(df_env_set(&e2, "V", "banana"), 0);
    assert_int_equal(df_env_set(&e2, "R", "[$0]"), 0);
    assert_int_equal(df_env_set(&e2, "D", "$$"), 0);
    assert_int_equal(df_env_set(&e2, "G", "<$1${0}${x>"), 0);
    expect_word("${V//a/$R}", &e2, "b[a]n[a]n[a]");
    expect_word("${V/a/$R}", &e2, "b[$0]nana");
    expect_word("${V//a/'<$0>'}", &e2, "b<a>n<a>n<a>");
    expect_word("${V//a/$D}", &e2, "b$n$n$");
    expect_word("${V//n/$G}", &e2, "ba<n${x>a<n${x>a");
    assert_int_equal(df_env_set(&e2, "NL", "a\nb"), 0);
    expect_word("${NL//*/-}", &e2, "-\n-");
    df_env_free(&e2);
    expect_error("${BANANA/a}", &env,
                 "failed to process \"${BANANA/a}\": syntax error: missing '/' in ${}");
    expect_error("${BANANA//}", &env,
                 "failed to process \"${BANANA//}\": syntax error: missing '/' in ${}");
    expect_error("${BANANA/a/b", &env,
                 "failed to process \"${BANANA/a/b\": syntax error: missing '}'");
    expect_error("${BANANA/\\x/b}", &env,
                 "failed to process \"${BANANA/\\\\x/b}\": invalid pattern (\\x) in "
                 "substitution: invalid escape '\\x'");
    expect_word("${BANANA///}", &env, "banana");
    df_env_free(&env);
}

/* ---- ProcessWords ---------------------------------------------------------------------------- */

static void
test_words(void **state)
{
    (void)state;
    struct df_env env;
    std_env(&env);
    expect_words("hello there     ", &env, "hello|there");
    expect_words("  a\tb\n c ", &env, "a|b|c");
    expect_words("hello\\ there", &env, "hello there");
    expect_words("hello\\\" there", &env, "hello\"|there");
    expect_words("hello\" there  \"", &env, "hello there  ");
    expect_words("a$SPACED.b", &env, "a|a|b|.b"); /* unquoted values split */
    expect_words("a\"$SPACED\"b", &env, "a a  b b");
    expect_words("'' a \"\" b", &env, "a|b"); /* empty words are dropped */
    expect_words("x${XXX:-p q}y", &env, "xp|qy");
    expect_words("${XXX:-\"p q\"}", &env, "p|q"); /* a ${} result splits even if quoted inside */
    expect_words("a\u00a0b", &env, "a|b");        /* Unicode spaces split */
    expect_words("a\\\u00a0b", &env, "a\u00a0b");
    expect_words("", &env, "");
    /* << keeps the blanks after it in its word (BuildKit's processPossibleHeredoc) */
    expect_words("cat << EOF x", &env, "cat|<< EOF|x");
    expect_words("cat <<\t\tEOF", &env, "cat|<<\t\tEOF");
    expect_words("cat <<- EOF", &env, "cat|<<-|EOF");
    expect_words("cat < EOF", &env, "cat|<|EOF");
    expect_word("cat << EOF", &env, "cat << EOF");

    /* words are appended; a failure appends nothing */
    struct sw_strv out = {0};
    struct sw_error *err = NULL;
    assert_int_equal(sw_strv_push(&out, "first"), 0);
    assert_int_equal(df_expand_words(&out, "a b", &env, NULL, &err), 0);
    assert_int_equal(out.n, 3);
    assert_string_equal(out.v[2], "b");
    assert_int_equal(df_expand_words(&out, "c 'd", &env, &plain, &err), -SW_EINVAL);
    assert_int_equal(out.n, 3);
    assert_string_equal(err->msg, "failed to process \"c 'd\": "
                                  "unexpected end of statement while looking for matching "
                                  "single-quote");
    sw_error_free(err);
    sw_strv_free(&out);
    df_env_free(&env);
}

/* ---- raw modes ------------------------------------------------------------------------------- */

/* What the parser uses to find heredocs: quotes and escapes raw, unset references as written. */
static void
test_raw_parser_mode(void **state)
{
    (void)state;
    struct df_env empty = {0};
    const struct df_expand_opts raw = {
        .escape = '\\', .raw_quotes = true, .raw_escapes = true, .skip_unset = true};
    expect_words_opts("cat \"a b\" 'c d' \\$x $y ${z} <<EOF", &empty, &raw,
                      "cat|\"a b\"|'c d'|\\$x|$y|${z}|<<EOF");
    expect_words_opts("${z:-w} ${z+w} ${z?m} ${z#p} ${z%%p} ${z/a/b} ${z//a/b} ${z:=w}", &empty,
                      &raw, "${z:-w}|${z+w}|${z?m}|${z#p}|${z%%p}|${z/a/b}|${z//a/b}|${z:=w}");
    expect_words_opts("a\\ b c\\", &empty, &raw, "a\\ b|c\\");
    expect_words_opts("<<'EOF' <<\"E F\" <<eo\\'f", &empty, &raw, "<<'EOF'|<<\"E F\"|<<eo\\'f");
    expect_words_opts("$1 $@ ${1}", &empty, &raw, "$1|$@|${1}");
    /* inside "...", BuildKit keeps an escape before an ordinary character twice */
    expect_word_opts("\"a\\tb\"", &empty, &raw, "\"a\\\\tb\"");
    expect_word_opts("\"a\\\"b\"", &empty, &raw, "\"a\\\"b\"");
    /* set variables still expand */
    struct df_env env = {0};
    assert_int_equal(df_env_set(&env, "Y", "why"), 0);
    expect_word_opts("$Y ${Y} ${Y:-d} $N", &env, &raw, "why why why $N");

    /* each flag alone */
    const struct df_expand_opts rq = {.raw_quotes = true};
    const struct df_expand_opts re = {.raw_escapes = true};
    const struct df_expand_opts su = {.skip_unset = true};
    expect_word_opts("'a'\"b\\$\"\\c", &empty, &rq, "'a'\"b$\"c");
    expect_word_opts("'a'\"b\\$\"\\c", &empty, &re, "ab\\$\\c");
    expect_word_opts("$N${N}${N:-x}'$N'", &empty, &su, "$N${N}${N:-x}$N");
    expect_error_opts("${N:?m}", &empty, &plain, "failed to process \"${N:?m}\": N: m");
    expect_word_opts("${N:?m}", &empty, &su, "${N:?m}");
    df_env_free(&env);
}

static void
test_skip_quotes(void **state)
{
    (void)state;
    struct df_env env;
    std_env(&env);
    const struct df_expand_opts sq = {.escape = '\\', .skip_quotes = true};
    expect_word_opts("echo '$SHELL' \"$PWD\" \\$PWD", &env, &sq, "echo 'bash' \"/home\" $PWD");
    expect_word_opts("it's", &env, &sq, "it's");
    df_env_free(&env);
}

/* ---- matched / unmatched names --------------------------------------------------------------- */

static void
test_matches(void **state)
{
    (void)state;
    struct df_env env = {0};
    assert_int_equal(df_env_set(&env, "A", "1"), 0);
    assert_int_equal(df_env_set(&env, "E", ""), 0);
    struct sw_strv m = {0}, u = {0};
    struct sw_error *err = NULL;
    char *got = NULL;
    assert_int_equal(
        df_expand_word(&got, "$A $B $A ${C:-$D} ${E+x} '$F' ${A/$G/}", &env, NULL, &m, &u, &err),
        0);
    assert_string_equal(got, "1  1  x $F 1");
    assert_int_equal(m.n, 2);
    assert_string_equal(m.v[0], "A");
    assert_string_equal(m.v[1], "E");
    assert_int_equal(u.n, 4); /* each once, in lookup order: a word before its variable */
    assert_string_equal(u.v[0], "B");
    assert_string_equal(u.v[1], "D");
    assert_string_equal(u.v[2], "C");
    assert_string_equal(u.v[3], "G");
    free(got);
    sw_strv_free(&m);
    sw_strv_free(&u);
    df_env_free(&env);
}

/* ---- glob helpers ---------------------------------------------------------------------------- */

static void
test_glob_helpers(void **state)
{
    (void)state;
    struct df_glob g;
    struct sw_error *err = NULL;
    const char *p = "a*?\\*\\?\\\\\\}\\/한";
    assert_int_equal(df_glob_compile(&g, p, strlen(p), &err), 0);
    assert_int_equal(g.n, 9);
    enum df_glob_op ops[] = {DF_GLOB_CHAR, DF_GLOB_STAR, DF_GLOB_ANY,  DF_GLOB_CHAR, DF_GLOB_CHAR,
                             DF_GLOB_CHAR, DF_GLOB_CHAR, DF_GLOB_CHAR, DF_GLOB_CHAR};
    const char *lits[] = {"a", "", "", "*", "?", "\\", "}", "/", "한"};
    for (size_t i = 0; i < g.n; i++) {
        assert_int_equal(g.tok[i].op, ops[i]);
        assert_int_equal(g.tok[i].len, strlen(lits[i]));
        assert_memory_equal(g.tok[i].ch, lits[i], g.tok[i].len);
    }
    df_glob_free(&g);
    assert_null(g.tok);

    assert_int_equal(df_glob_compile(&g, "\\x", 2, &err), -SW_EINVAL);
    assert_string_equal(err->msg, "invalid escape '\\x'");
    sw_error_freep(&err);
    assert_int_equal(df_glob_compile(&g, "ab\\", 3, &err), -SW_EINVAL);
    assert_string_equal(err->msg, "invalid escape '\\' at end");
    sw_error_freep(&err);

    char *s = df_glob_reverse("a\\*c");
    assert_string_equal(s, "c\\*a");
    free(s);
    s = df_glob_reverse("ab\\");
    assert_string_equal(s, "\\ba");
    free(s);
    s = df_glob_reverse("👽\\🚀🖖");
    assert_string_equal(s, "🖖\\🚀👽");
    free(s);
    s = df_utf8_reverse("ab한\xff");
    assert_string_equal(s, "\xff한ba");
    free(s);
    s = df_utf8_reverse("");
    assert_string_equal(s, "");
    free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_lookup),
        cmocka_unit_test(test_case_insensitive_expansion),
        cmocka_unit_test(test_quotes),
        cmocka_unit_test(test_backslash_escape),
        cmocka_unit_test(test_backtick_escape),
        cmocka_unit_test(test_simple_references),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_modifier_default_and_alternative),
        cmocka_unit_test(test_modifier_required),
        cmocka_unit_test(test_unsupported_modifiers),
        cmocka_unit_test(test_trim_prefix_suffix),
        cmocka_unit_test(test_replace),
        cmocka_unit_test(test_words),
        cmocka_unit_test(test_raw_parser_mode),
        cmocka_unit_test(test_skip_quotes),
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_glob_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
