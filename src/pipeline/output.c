/* Hashing, counting output writer over an atomic store put. */
#include "pipeline/output.h"
#include "base/hex.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/budget.h"

struct ff_out {
    ff_store_writer *w;
    EVP_MD_CTX *md;
    ff_sink sink;
    ff_output rec;
    ff_session_budget *budget;
    uint64_t charged;
};

static int out_write(void *ctx, const void *buf, size_t len, ff_err *err)
{
    ff_out *o = ctx;
    if (o->budget) {
        if (ff_session_budget_write(o->budget, len, err) != 0)
            return -1;
        o->charged += len;
    }
    if (EVP_DigestUpdate(o->md, buf, len) != 1)
        return ff_err_set(err, "sha256 failed");
    return ff_store_writer_write(o->w, buf, len, err);
}

ff_out *ff_out_open(ff_store *store, const char *prefix, const char *relpath, const char *media_type,
                    ff_err *err)
{
    ff_out *o = calloc(1, sizeof *o);
    if (!o) {
        ff_err_set(err, "out of memory");
        return NULL;
    }
    char key[FF_STORE_KEY_MAX + 1];
    if (snprintf(key, sizeof key, "%s%s", prefix ? prefix : "", relpath) >= (int)sizeof key ||
        snprintf(o->rec.path, sizeof o->rec.path, "%s", relpath) >= (int)sizeof o->rec.path) {
        free(o);
        ff_err_set(err, "output name too long");
        return NULL;
    }
    o->rec.media_type = media_type;
    o->md = EVP_MD_CTX_new();
    if (!o->md || EVP_DigestInit_ex(o->md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(o->md);
        free(o);
        ff_err_set(err, "cannot start sha256");
        return NULL;
    }
    o->w = ff_store_writer_open(store, key, err);
    if (!o->w) {
        EVP_MD_CTX_free(o->md);
        free(o);
        return NULL;
    }
    o->sink = (ff_sink){.write = out_write, .ctx = o};
    return o;
}

ff_sink *ff_out_sink(ff_out *o)
{
    return &o->sink;
}

void ff_out_set_budget(ff_out *o, ff_session_budget *b)
{
    o->budget = b;
}

void ff_out_abort(ff_out *o)
{
    if (!o)
        return;
    if (o->budget)
        ff_session_budget_unwrite(o->budget, o->charged);
    ff_store_writer_abort(o->w);
    EVP_MD_CTX_free(o->md);
    free(o);
}

int ff_out_commit(ff_out *o, ff_file_result *r, ff_err *err)
{
    ff_output rec;
    if (ff_out_commit_rec(o, &rec, err) != 0)
        return -1;
    if (r && ff_file_result_add_output(r, &rec) != 0)
        return ff_err_set(err, "out of memory");
    return 0;
}

int ff_out_commit_rec(ff_out *o, ff_output *rec, ff_err *err)
{
    unsigned char dig[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (EVP_DigestFinal_ex(o->md, dig, &dlen) != 1 || dlen != 32) {
        ff_err_set(err, "sha256 failed");
        ff_out_abort(o);
        return -1;
    }
    ff_hex_encode(dig, 32, o->rec.sha256);
    o->rec.bytes = ff_store_writer_bytes(o->w);
    int rc = ff_store_writer_commit(o->w, err);
    o->w = NULL;
    if (rc == 0)
        *rec = o->rec;
    else if (o->budget)
        ff_session_budget_unwrite(o->budget, o->charged);
    EVP_MD_CTX_free(o->md);
    free(o);
    return rc;
}

int ff_out_put(ff_store *store, const char *prefix, const char *relpath, const char *media_type,
               const void *buf, size_t len, ff_file_result *r, ff_err *err)
{
    ff_out *o = ff_out_open(store, prefix, relpath, media_type, err);
    if (!o)
        return -1;
    if (ff_sink_write(ff_out_sink(o), buf, len, err) != 0) {
        ff_out_abort(o);
        return -1;
    }
    return ff_out_commit(o, r, err);
}
