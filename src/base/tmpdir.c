/* The temporary folder (tmpdir.h). */
#include "base/tmpdir.h"

#include <stdlib.h>

const char *ff_tmp_dir(void)
{
    const char *t = getenv("TMPDIR");
    return t && *t ? t : "/tmp";
}
