/* What a FITS header says about the observation: observatory, instrument, measurement,
 * Helioviewer source id, observation time (UTC) and exposure. The table of known instruments
 * (SDO AIA/HMI, SOHO EIT/MDI/LASCO, STEREO EUVI/COR, PROBA2 SWAP, GOES SUVI) lives here once. */
#ifndef FF_CORE_FITS_OBSMETA_H
#define FF_CORE_FITS_OBSMETA_H

#include "base/err.h"
#include "core/fits/header.h"
#include "core/fits/obstime.h"

typedef struct ff_obsmeta {
    char observatory[32];   /* "SDO", "SOHO", "STEREO_A", "PROBA2", "GOES-16", ... or "" */
    char instrument[32];    /* "AIA", "HMI", "EIT", "MDI", "LASCO", "EUVI", "COR1", "SWAP", "SUVI" */
    char detector[32];      /* "AIA", "HMI", "C2", "COR2", ... as Helioviewer names them, or "" */
    char measurement[32];   /* "171", "continuum", "magnetogram", "white-light", ... or "" */
    int wavelength;         /* WAVELNTH in its header unit when present, else 0 */
    int source_id;          /* Helioviewer sourceId, or -1 when the instrument is not known */
    double exptime;         /* EXPTIME in seconds, or NaN when missing */
    int has_time;           /* 1 when time_utc is valid */
    ff_time time;           /* observation time, UTC */
    char time_iso[40];      /* "2011-06-07T06:33:02.880Z" (UTC), or "" */
    char time_reason[256];  /* why there is no time, when has_time == 0 */
} ff_obsmeta;

/* Fills meta from a header. The time comes from T_OBS, else DATE-OBS (joined with TIME-OBS when
 * DATE-OBS holds a date only), else DATE_OBS; the first that parses wins, and TIMESYS gives the
 * scale of a value that names none. Never fails for a missing or unparsable time or an unknown
 * instrument: those leave has_time 0 (with time_reason) or source_id -1. */
void ff_obsmeta_from_header(const ff_header *h, ff_obsmeta *meta);

/* Helioviewer source id for (observatory, instrument, detector, measurement), or -1. Matching is
 * case-insensitive; measurement for AIA is the wavelength in angstrom as text ("171"). */
int ff_obsmeta_source_id(const char *observatory, const char *instrument, const char *detector,
                         const char *measurement);

#endif
