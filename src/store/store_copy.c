/* An object copied into a local temporary file, for readers that need a path (CFITSIO reads
 * uploads by path; a store without files, S3, has none to give). */
#include "store/store.h"
#include "base/tmpdir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ff_store_get_to_tmpfile(ff_store *s, const char *key, size_t max, char *path, size_t cap,
                            ff_err *err)
{
    char *data = NULL;
    size_t len = 0;
    if (ff_store_get(s, key, max, &data, &len, err) != 0)
        return -1;
    const char *tmp = ff_tmp_dir();
    if ((size_t)snprintf(path, cap, "%s/fitsflow-XXXXXX", tmp) >= cap) {
        free(data);
        return ff_err_set(err, "TMPDIR is too long for a temporary file name");
    }
    int fd = mkstemp(path);
    if (fd < 0) {
        free(data);
        return ff_err_set(err, "cannot create a temporary file in %s: %s", tmp, strerror(errno));
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    free(data);
    if (close(fd) != 0 || off != len) {
        unlink(path);
        return ff_err_set(err, "cannot write the temporary copy of '%s'", key);
    }
    return 0;
}
