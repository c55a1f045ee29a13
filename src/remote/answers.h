/* The remote services' answers judged without a network: the image bytes turned into a PNG (or
 * refused), a PNG checked whole, Helioviewer's closest-image answer and HEK's events answer. What
 * comes from outside is untrusted: these are unit-tested and fuzzed (fuzz/fuzz_remote_json.c). */
#ifndef FF_REMOTE_ANSWERS_H
#define FF_REMOTE_ANSWERS_H

#include <stddef.h>
#include <stdint.h>

#include "remote/remote.h"

/* Image bytes (PNG, JPEG or JPEG 2000) -> PNG: a valid PNG is kept as it is, the others are
 * decoded and re-encoded. gray_out = 1 converts colour to gray. Fills *png (malloc'd). */
int ff_remote_to_png(const unsigned char *buf, size_t len, int gray_out, uint64_t max_pixels,
                     unsigned char **png, size_t *png_len, const char **what, ff_err *err);

/* 0 when buf is a complete PNG that decodes (header, every chunk's CRC, the image data). */
int ff_remote_png_check(const unsigned char *buf, size_t len, uint64_t max_pixels,
                        unsigned *width, unsigned *height, ff_err *err);

/* getClosestImage's answer (helioviewer.c): 0 with the image's id (digits) and its date ("" when
 * absent), or -1 with the reason in res (not JSON, an error, no id, too far from t, the observation
 * time in seconds since 1970, written iso). */
int ff_helioviewer_closest_answer(const unsigned char *body, size_t len, const char *content_type,
                                  double t, const char *iso, int source_id, int max_offset_minutes,
                                  char id[32], char date[40], ff_remote_result *res);

/* The events API's answer (hek.c): 0 when it is a JSON array or object without an "error", with
 * the number of events counted in *nevents; else -1 with the reason in res. */
int ff_hek_events_answer(const unsigned char *body, size_t len, const char *content_type,
                         size_t *nevents, ff_remote_result *res);

#endif
