#include "digest.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

struct sw_hasher {
    EVP_MD_CTX *ctx;
};

static int
ssl_error(struct sw_error **err, const char *what)
{
    return sw_error_set(err, SW_EINTERNAL, 0, NULL, "sha256 %s failed (OpenSSL)", what);
}

int
sw_hasher_new(struct sw_hasher **out, struct sw_error **err)
{
    struct sw_hasher *h = calloc(1, sizeof *h);
    if (!h)
        return sw_error_oom(err);
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        sw_hasher_free(h);
        return ssl_error(err, "init");
    }
    *out = h;
    return 0;
}

int
sw_hasher_update(struct sw_hasher *h, const void *data, size_t len, struct sw_error **err)
{
    if (len && EVP_DigestUpdate(h->ctx, data, len) != 1)
        return ssl_error(err, "update");
    return 0;
}

int
sw_hasher_final(struct sw_hasher *h, struct sw_digest *out, struct sw_error **err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n != 32)
        return ssl_error(err, "final");
    static const char hex[] = "0123456789abcdef";
    memcpy(out->str, "sha256:", 7);
    for (unsigned i = 0; i < n; i++) {
        out->str[7 + 2 * i] = hex[md[i] >> 4];
        out->str[7 + 2 * i + 1] = hex[md[i] & 15];
    }
    out->str[SW_DIGEST_STR_LEN] = '\0';
    return 0;
}

int
sw_hasher_reset(struct sw_hasher *h, struct sw_error **err)
{
    if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
        return ssl_error(err, "init");
    return 0;
}

void
sw_hasher_free(struct sw_hasher *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

int
sw_digest_bytes(struct sw_digest *out, const void *data, size_t len, struct sw_error **err)
{
    struct sw_hasher *h = NULL;
    int r = sw_hasher_new(&h, err);
    if (r == 0)
        r = sw_hasher_update(h, data, len, err);
    if (r == 0)
        r = sw_hasher_final(h, out, err);
    sw_hasher_free(h);
    return r;
}

bool
sw_digest_valid(const char *s)
{
    if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != SW_DIGEST_STR_LEN)
        return false;
    for (const char *p = s + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

int
sw_digest_parse(struct sw_digest *out, const char *s, struct sw_error **err)
{
    if (!sw_digest_valid(s))
        return sw_error_set(err, SW_EINVAL, 0, NULL,
                            "invalid digest \"%s\": want sha256: and 64 lower-case hex digits",
                            s ? s : "");
    memcpy(out->str, s, SW_DIGEST_STR_LEN + 1);
    return 0;
}
