/* Harness 6: JSOC directory listings. The first bytes choose the image kind, the AIA wavelength
 * and the target time; the rest is the listing page. ff_html_next_href must walk any bytes forward
 * and end; ff_jsoc_pick_closest's answer must be a name that parses as the wanted kind, and the
 * closest of all the candidates ff_html_next_href finds; ff_jsoc_parse_name also gets the page as
 * one name. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remote/remote.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    static const int wls[] = {94, 131, 171, 193, 211, 304, 335, 1600, 1700, 4500};
    ff_jsoc_kind kind = (ff_jsoc_kind)(data[0] % 3);
    int wl = wls[(data[0] >> 2) % 10];
    /* targets spread over 1970..2106 */
    double target = (double)((uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 | data[4]);
    const char *html = (const char *)data + 5;
    size_t len = size - 5;

    /* every href, bounded and advancing */
    const char *p = html, *end = html + len;
    char href[64];
    size_t links = 0;
    while (ff_html_next_href(&p, end, href, sizeof href)) {
        if (p < html || p > end || strlen(href) >= sizeof href || !href[0])
            abort();
        if (++links > len)
            abort(); /* each href needs bytes of its own */
    }
    if (p != end)
        abort();

    char name[FF_JSOC_NAME_MAX];
    double off = 0;
    size_t ncand = 0;
    int rc = ff_jsoc_pick_closest(html, len, kind, wl, target, 100000, name, &off, &ncand);
    if (rc == 0) {
        double t;
        if (!name[0] || strlen(name) >= FF_JSOC_NAME_MAX || ncand == 0 ||
            ff_jsoc_parse_name(name, kind, wl, &t) != 0 || fabs(t - target - off) > 1e-3)
            abort();
    } else if (rc != 1 || ncand != 0 || name[0]) {
        abort();
    }

    char *s = fuzz_cstr((const uint8_t *)html, len);
    double t;
    ff_jsoc_parse_name(s, kind, wl, &t);
    free(s);
    return 0;
}
