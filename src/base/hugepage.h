/* Transparent huge pages for the few large buffers a file's processing fills (the decoded image,
 * the ASDF block's compressed copy, level 1.5's coefficients and result): one fault per 2 MiB in
 * place of 512, and fewer TLB misses for scattered reads. Advice only: where THP is off, or the
 * kernel too old, nothing changes. Debian's default ("madvise") honours it. */
#ifndef FF_BASE_HUGEPAGE_H
#define FF_BASE_HUGEPAGE_H

#include <stddef.h>

/* Asks for huge pages over the whole 2 MiB pages inside [p, p + bytes); buffers under 4 MiB are
 * left alone (little to gain, and a huge page may then hold mostly unused memory). */
void ff_hugepage_advise(void *p, size_t bytes);

#endif
