/* Where the CA certificates for HTTPS are (to AWS and to the remote services). */
#ifndef FF_BASE_CABUNDLE_H
#define FF_BASE_CABUNDLE_H

/* SSL_CERT_FILE, else the first existing of the Debian, Amazon Linux and Red Hat paths, else NULL
 * (libcurl's built-in default). A bundled libcurl built on Debian would otherwise look for
 * Debian's path on Amazon Linux and fail every request. */
const char *ff_ca_bundle(void);

#endif
