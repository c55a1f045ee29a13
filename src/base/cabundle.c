/* The CA bundle lookup (cabundle.h). */
#include "base/cabundle.h"

#include <stdlib.h>
#include <unistd.h>

const char *ff_ca_bundle(void)
{
    const char *env = getenv("SSL_CERT_FILE");
    if (env && *env)
        return env;
    static const char *const paths[] = {
        "/etc/ssl/certs/ca-certificates.crt", /* Debian, Ubuntu */
        "/etc/pki/tls/certs/ca-bundle.crt",   /* Amazon Linux, Fedora, RHEL */
        "/etc/ssl/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    };
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        if (access(paths[i], R_OK) == 0)
            return paths[i];
    return NULL;
}
