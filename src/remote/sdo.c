/* The SDO daily movies' addresses: one MP4 per channel per day at 1024 pixels. */
#include <stdio.h>
#include <string.h>

#include "remote/remote_impl.h"

const char *const ff_sdo_channels[FF_SDO_NCHANNELS] = {
    "0094", "0131", "0171", "0193", "0211", "0304", "0335", "1600", "1700", "HMIIC", "HMIB",
};

int ff_remote_sdo_movie_url(const ff_remote *r, const char *date, const char *channel, char *url,
                            size_t size, ff_err *err)
{
    if (strlen(date) != 8 || strspn(date, "0123456789") != 8)
        return ff_err_set(err, "the date must be YYYYMMDD, not '%.20s'", date);
    int n = snprintf(url, size, "%s/assets/img/dailymov/%.4s/%.2s/%.2s/%s_1024_%s.mp4", r->cfg.sdo_url,
                     date, date + 4, date + 6, date, channel);
    if (n < 0 || (size_t)n >= size)
        return ff_err_set(err, "the SDO movie URL is too long");
    return 0;
}
