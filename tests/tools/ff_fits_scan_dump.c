/* Prints what ff_fits_scan_file finds in each file given, and the cost ff_file_cost_estimate
 * gives it under the processing settings of the environment (FITSFLOW_OFFLINE, FITSFLOW_PNG_MAX,
 * FITSFLOW_OUTPUTS, ...), one JSON object per line (for tests/e2e/test_fits_scan.py).
 * Usage: ff_fits_scan_dump [--cap BYTES] FILE... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fits/fits_scan.h"
#include "base/settings.h"
#include "pipeline/budget.h"
#include "pipeline/pipeline.h"

int main(int argc, char **argv)
{
    unsigned long long cap = (unsigned long long)1 << 40;
    int i = 1;
    if (argc > 2 && !strcmp(argv[1], "--cap")) {
        cap = strtoull(argv[2], NULL, 10);
        i = 3;
    }
    ff_pipeline_config cfg;
    ff_settings settings;
    ff_err cerr = {0};
    if (ff_settings_load(&settings, FF_USE_PROCESS, &cerr) != 0 ||
        ff_pipeline_config_from_settings(&cfg, &settings, &cerr) != 0) {
        fprintf(stderr, "%s\n", cerr.msg);
        return 2;
    }
    int rc = 0;
    for (; i < argc; i++) {
        ff_fits_scan s;
        ff_err err = {0};
        if (ff_fits_scan_file(argv[i], cap, &s, &err) != 0) {
            printf("{\"file\": \"%s\", \"error\": \"%s\"}\n", argv[i], err.msg);
            rc = 1;
            continue;
        }
        ff_file_cost c;
        ff_file_cost_estimate(&s, &cfg, &c);
        printf("{\"file\": \"%s\", \"gzip\": %d, \"file_bytes\": %llu, \"content_bytes\": %llu, "
               "\"over_cap\": %d, \"complete\": %d, \"hdus\": %d, \"max_cards\": %llu, "
               "\"pixels\": %llu, \"naxis\": %d, \"width\": %llu, \"height\": %llu, "
               "\"elem_bytes\": %d, \"is_float\": %d, \"is_signed\": %d, \"stopped\": %d, "
               "\"cost_pixels\": %llu, \"cost_output_bytes\": %llu, \"cost_memory_bytes\": %llu}\n",
               argv[i], s.gzip, (unsigned long long)s.file_bytes,
               (unsigned long long)s.content_bytes, s.over_cap, s.complete, s.hdus,
               (unsigned long long)s.max_cards, (unsigned long long)s.pixels, s.naxis,
               (unsigned long long)s.width, (unsigned long long)s.height, s.elem_bytes, s.is_float,
               s.is_signed, s.stopped, (unsigned long long)c.pixels,
               (unsigned long long)c.output_bytes, (unsigned long long)c.memory_bytes);
    }
    return rc;
}
