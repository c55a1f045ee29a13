/* Prints base/settings.c's table, one setting a line (name, type, min, max, default, commands,
 * help, tab-separated), for tests/e2e/test_settings_documented.py to hold the README to. */
#include <stdio.h>

#include "base/settings.h"

int main(void)
{
    static const char *types[] = {"uint", "seconds", "flag", "choice", "text", "url"};
    static const char *uses[] = {"serve", "process", "lambda", "clean", "daily-video"};
    for (int id = 0; id < FF_SET_COUNT; id++) {
        const ff_setting *r = ff_setting_row((ff_setting_id)id);
        printf("%s\t%s\t%.17g\t%.17g\t%s\t", r->name, types[r->type], r->min, r->max,
               r->dflt ? r->dflt : "-");
        for (int b = 0, first = 1; b < 5; b++)
            if (r->used_by & (1u << b)) {
                printf("%s%s", first ? "" : ",", uses[b]);
                first = 0;
            }
        printf("\t%s\n", r->help);
    }
    return 0;
}
