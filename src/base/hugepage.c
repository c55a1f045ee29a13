/* ff_hugepage_advise (hugepage.h). */
#include "base/hugepage.h"

#include <stdint.h>
#include <sys/mman.h>

void ff_hugepage_advise(void *p, size_t bytes)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)1 << 21;
    if (!p || bytes < 2 * huge)
        return;
    uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1), b = ((uintptr_t)p + bytes) & ~(huge - 1);
    if (b > a)
        (void)madvise((void *)a, b - a, MADV_HUGEPAGE); /* advice: refused is fine */
#else
    (void)p;
    (void)bytes;
#endif
}
