/* The crash of the crash tests: linked only into fitsflow-crashtest (tests/CMakeLists.txt), never
 * into fitsflow, where ff_pipeline_test_file_hook is an empty weak function. With
 * FITSFLOW_TEST_CRASH_ON=NAME the process dies of SIGSEGV as it starts processing the upload
 * NAME, as a file that crashes a decoder would make it. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline.h"

void ff_pipeline_test_file_hook(const char *name)
{
    const char *target = getenv("FITSFLOW_TEST_CRASH_ON");
    if (target && *target && name && !strcmp(name, target))
        raise(SIGSEGV);
}
