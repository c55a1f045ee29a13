/* The media type (Content-Type) of an object, from its name's ending: what the server sends with
 * an object it serves and what an object stored in S3 is tagged with, so that both agree. */
#ifndef FF_BASE_MEDIATYPE_H
#define FF_BASE_MEDIATYPE_H

/* By the last '.' after the last '/' of key, in any case; "application/octet-stream" when the
 * ending is not known. */
const char *ff_media_type(const char *key);

#endif
