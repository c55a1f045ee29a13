/* Observation metadata from headers: instrument identification, Helioviewer source ids (the ids
 * below are copied from Helioviewer's published data-source tables, not from our output), time
 * and exposure. Header snippets are card images copied from sunpy's test headers; the real SDO
 * files are read with CFITSIO and compared with what astropy reads from them. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <fitsio.h>

#include "core/fits/header.h"
#include "core/fits/obsmeta.h"

#define SUNPY_TEST_DATA "/usr/lib/python3/dist-packages/sunpy/data/test/"
#define PYTHON "/usr/bin/python3"

/* Parses NULL-terminated card strings (each padded to 80 columns) and fills meta. */
static void meta_from_cards(const char *const *cards, ff_obsmeta *meta)
{
    size_t n = 0;
    while (cards[n])
        n++;
    char *buf = malloc(n * 80 + 1);
    assert_non_null(buf);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(cards[i]);
        assert_true(len <= 80);
        memset(buf + i * 80, ' ', 80);
        memcpy(buf + i * 80, cards[i], len);
    }
    ff_header h;
    ff_err err;
    assert_int_equal(ff_header_parse(buf, n, &h, &err), 0);
    ff_obsmeta_from_header(&h, meta);
    ff_header_free(&h);
    free(buf);
}

#define META(m, ...)                                                                               \
    do {                                                                                           \
        const char *const cards_[] = {__VA_ARGS__, NULL};                                          \
        meta_from_cards(cards_, (m));                                                              \
    } while (0)

static void expect_ident(const ff_obsmeta *m, const char *obs, const char *inst, const char *det,
                         const char *meas, int id)
{
    assert_string_equal(m->observatory, obs);
    assert_string_equal(m->instrument, inst);
    assert_string_equal(m->detector, det);
    assert_string_equal(m->measurement, meas);
    assert_int_equal(m->source_id, id);
}

static void expect_time(const ff_obsmeta *m, const char *iso)
{
    if (!m->has_time)
        fail_msg("no time: %s", m->time_reason);
    assert_string_equal(m->time_iso, iso);
    assert_int_equal(m->time.scale, FF_TS_UTC);
}

/* Helioviewer getDataSources ids, from the project's data-source tables. */
static void test_source_id_table(void **state)
{
    (void)state;
    static const struct {
        const char *obs, *inst, *det, *meas;
        int id;
    } hv[] = {
        {"SOHO", "EIT", "", "171", 0},          {"SOHO", "EIT", "", "195", 1},
        {"SOHO", "EIT", "", "284", 2},          {"SOHO", "EIT", "", "304", 3},
        {"SOHO", "LASCO", "C2", "white-light", 4}, {"SOHO", "LASCO", "C3", "white-light", 5},
        {"SOHO", "MDI", "", "magnetogram", 6},  {"SOHO", "MDI", "", "continuum", 7},
        {"SDO", "AIA", "", "94", 8},            {"SDO", "AIA", "", "131", 9},
        {"SDO", "AIA", "", "171", 10},          {"SDO", "AIA", "", "193", 11},
        {"SDO", "AIA", "", "211", 12},          {"SDO", "AIA", "", "304", 13},
        {"SDO", "AIA", "", "335", 14},          {"SDO", "AIA", "", "1600", 15},
        {"SDO", "AIA", "", "1700", 16},         {"SDO", "AIA", "", "4500", 17},
        {"SDO", "HMI", "", "continuum", 18},    {"SDO", "HMI", "", "magnetogram", 19},
        {"STEREO_A", "SECCHI", "EUVI", "171", 20}, {"STEREO_A", "SECCHI", "EUVI", "195", 21},
        {"STEREO_A", "SECCHI", "EUVI", "284", 22}, {"STEREO_A", "SECCHI", "EUVI", "304", 23},
        {"STEREO_B", "SECCHI", "EUVI", "171", 24}, {"STEREO_B", "SECCHI", "EUVI", "195", 25},
        {"STEREO_B", "SECCHI", "EUVI", "284", 26}, {"STEREO_B", "SECCHI", "EUVI", "304", 27},
        {"STEREO_A", "SECCHI", "COR1", "white-light", 28},
        {"STEREO_A", "SECCHI", "COR2", "white-light", 29},
        {"STEREO_B", "SECCHI", "COR1", "white-light", 30},
        {"STEREO_B", "SECCHI", "COR2", "white-light", 31},
        {"PROBA2", "SWAP", "", "174", 32},
        {"GOES", "SUVI", "", "94", 2000},       {"GOES", "SUVI", "", "131", 2001},
        {"GOES", "SUVI", "", "171", 2002},      {"GOES", "SUVI", "", "195", 2003},
        {"GOES", "SUVI", "", "284", 2004},      {"GOES", "SUVI", "", "304", 2005},
    };
    for (size_t i = 0; i < sizeof hv / sizeof hv[0]; i++) {
        int got = ff_obsmeta_source_id(hv[i].obs, hv[i].inst, hv[i].det, hv[i].meas);
        if (got != hv[i].id)
            fail_msg("%s/%s/%s/%s: got %d, want %d", hv[i].obs, hv[i].inst, hv[i].det,
                     hv[i].meas, got, hv[i].id);
    }
}

static void test_source_id_spellings(void **state)
{
    (void)state;
    assert_int_equal(ff_obsmeta_source_id("sdo", "aia", "aia", "171"), 10);
    assert_int_equal(ff_obsmeta_source_id("SDO/AIA", "", "", "171"), 10);
    assert_int_equal(ff_obsmeta_source_id("SDO/AIA", "AIA_3", "AIA", "193"), 11);
    assert_int_equal(ff_obsmeta_source_id("SDO", "HMI_FRONT2", "HMI", "Magnetogram"), 19);
    assert_int_equal(ff_obsmeta_source_id("STEREO A", "EUVI", "", "304"), 23);
    assert_int_equal(ff_obsmeta_source_id("STEREO-B", "EUVI", "EUVI", "195"), 25);
    assert_int_equal(ff_obsmeta_source_id("stereo_b", "secchi", "cor2", "white light"), 31);
    assert_int_equal(ff_obsmeta_source_id("STEREO Ahead", "COR1", "", ""), 28);
    assert_int_equal(ff_obsmeta_source_id("SOHO", "LASCO", "C3", ""), 5);
    assert_int_equal(ff_obsmeta_source_id("GOES-16", "SUVI", "", "94"), 2000);
    assert_int_equal(ff_obsmeta_source_id("GOES-R", "SUVI", "SUVI", "304"), 2005);
    assert_int_equal(ff_obsmeta_source_id("PROBA-2", "SWAP", "", "174"), 32);
    /* Not in the table, or not enough to choose. */
    assert_int_equal(ff_obsmeta_source_id("SOHO", "LASCO", "", "white-light"), -1);
    assert_int_equal(ff_obsmeta_source_id("SOHO", "LASCO", "C1", "white-light"), -1);
    assert_int_equal(ff_obsmeta_source_id("STEREO", "EUVI", "", "171"), -1);
    assert_int_equal(ff_obsmeta_source_id("SDO", "AIA", "", "1234"), -1);
    assert_int_equal(ff_obsmeta_source_id("SDO", "EIT", "", "171"), -1);
    assert_int_equal(ff_obsmeta_source_id("HINODE", "XRT", "", ""), -1);
    assert_int_equal(ff_obsmeta_source_id(NULL, NULL, NULL, NULL), -1);
    assert_int_equal(ff_obsmeta_source_id("", "", "", ""), -1);
}

static void test_aia_all_wavelengths(void **state)
{
    (void)state;
    static const struct {
        const char *card;
        const char *meas;
        int id;
    } aia[] = {
        {"WAVELNTH=                   94", "94", 8},
        {"WAVELNTH=                  131", "131", 9},
        {"WAVELNTH=                  171", "171", 10},
        {"WAVELNTH=                  193", "193", 11},
        {"WAVELNTH=                  211", "211", 12},
        {"WAVELNTH=                  304", "304", 13},
        {"WAVELNTH=                  335", "335", 14},
        {"WAVELNTH=                 1600", "1600", 15},
        {"WAVELNTH=                 1700", "1700", 16},
        {"WAVELNTH=               4500.0", "4500", 17},
        {"WAVELNTH=                 1234", "1234", -1},
    };
    for (size_t i = 0; i < sizeof aia / sizeof aia[0]; i++) {
        ff_obsmeta m;
        META(&m, "TELESCOP= 'SDO/AIA '", "INSTRUME= 'AIA_4   '", "DETECTOR= 'AIA     '",
             aia[i].card, "T_OBS   = '2011-02-15T00:00:01.34Z'");
        expect_ident(&m, "SDO", "AIA", "AIA", aia[i].meas, aia[i].id);
    }
    ff_obsmeta m; /* lower case, no DETECTOR */
    META(&m, "TELESCOP= 'sdo/aia'", "INSTRUME= 'aia_3'", "WAVELNTH=                  335");
    expect_ident(&m, "SDO", "AIA", "AIA", "335", 14);
}

static void test_hmi(void **state)
{
    (void)state;
    ff_obsmeta m;
    /* resampled_hmi.fits, as astropy shows it */
    META(&m, "T_OBS   = '2014.03.01_00:01:25_TAI'", "BUNIT   = 'DN/s    '",
         "DATE-OBS= '2014-03-01T00:00:27.90'", "INSTRUME= 'HMI_FRONT2'",
         "CONTENT = 'CONTINUUM INTENSITY'", "TELESCOP= 'SDO/HMI '", "WAVELNTH=               6173.0",
         "DETECTOR= 'HMI     '", "T_REC   = '2014.03.01_00:01:30_TAI'");
    expect_ident(&m, "SDO", "HMI", "HMI", "continuum", 18);
    assert_int_equal(m.wavelength, 6173);
    assert_true(isnan(m.exptime));
    expect_time(&m, "2014-03-01T00:00:50.000Z"); /* astropy: T_OBS TAI -> UTC */

    META(&m, "TELESCOP= 'SDO/HMI'", "INSTRUME= 'HMI_SIDE1'", "CONTENT = 'MAGNETOGRAM'",
         "T_OBS   = '2014.03.01_00:01:25.84_TAI'");
    expect_ident(&m, "SDO", "HMI", "HMI", "magnetogram", 19);
    expect_time(&m, "2014-03-01T00:00:50.840Z");

    /* No CONTENT: the unit tells. */
    META(&m, "TELESCOP= 'SDO/HMI'", "INSTRUME= 'HMI_FRONT2'", "BUNIT   = 'Gauss'");
    expect_ident(&m, "SDO", "HMI", "HMI", "magnetogram", 19);
    META(&m, "TELESCOP= 'SDO/HMI'", "INSTRUME= 'HMI_FRONT2'", "BUNIT   = 'DN/s'");
    expect_ident(&m, "SDO", "HMI", "HMI", "continuum", 18);
    META(&m, "TELESCOP= 'SDO/HMI'", "CONTENT = 'DOPPLERGRAM'");
    expect_ident(&m, "SDO", "HMI", "HMI", "dopplergram", -1);

    /* hmi_synoptic.header: a synoptic chart is no Helioviewer layer */
    META(&m, "TELESCOP= 'SDO/HMI'", "INSTRUME= 'HMI_SIDE1'", "WAVELNTH= 6173.000000",
         "BUNIT   = 'Mx/cm^2'", "CONTENT = 'Carrington Synoptic Chart Of Br Field'",
         "T_OBS   = '2018.11.09_12:30:52_TAI'");
    expect_ident(&m, "SDO", "HMI", "HMI", "synoptic", -1);
    expect_time(&m, "2018-11-09T12:30:15.000Z");
}

static void test_soho(void **state)
{
    (void)state;
    ff_obsmeta m;
    /* seit_00171_fd_19961211_1900.header */
    META(&m, "TIME-OBS= '19:00:14'", "DATE-OBS= '11-DEC-96'          / UTC at spacecraft",
         "TELESCOP= 'SOHO    '", "INSTRUME= 'EIT     '", "BUNIT   = 'counts / pixel'",
         "WAVELNTH=                  171 / 171 = Fe IX/X, 195 = Fe XII,",
         "DATE_OBS= '1996-12-11T19:00:14.254Z'", "EXPTIME =                0.875 / seconds");
    expect_ident(&m, "SOHO", "EIT", "EIT", "171", 0);
    expect_time(&m, "1996-12-11T19:00:14.000Z");
    assert_true(m.exptime == 0.875);
    static const struct {
        const char *card;
        int id;
    } eit[] = {{"WAVELNTH=                  195", 1},
               {"WAVELNTH=                  284", 2},
               {"WAVELNTH=                  304", 3}};
    for (size_t i = 0; i < 3; i++) {
        META(&m, "TELESCOP= 'SOHO'", "INSTRUME= 'EIT'", eit[i].card);
        assert_int_equal(m.source_id, eit[i].id);
    }

    /* mdi.fd_Ic.20101015_230100_TAI.data.header */
    META(&m, "T_OBS   = '2010.10.15_23:01:00.000_TAI' / [TAI] Actual (center) of integration t",
         "DATE-OBS= '2010-10-15T23:00:11.000' / [ISO] [DATE",
         "CONTENT = 'MDI Full Disk Intensity Continuum' / Type of data",
         "BUNIT   = 'Arbitrary intensity units' / Physical units of data",
         "INSTRUME= 'MDI     '           / Instrument",
         "TELESCOP= 'SOHO    '           / Observatory; SOHO",
         "WAVELNTH=                 6768 / [Angstrom] For MDI: 6768 Angstroms");
    expect_ident(&m, "SOHO", "MDI", "MDI", "continuum", 7);
    expect_time(&m, "2010-10-15T23:00:26.000Z");
    /* mdi.fd_M_96m_lev182...header: no INSTRUME at all */
    META(&m, "T_OBS   = '2010.10.15_19:15:30.000_TAI' / [TAI] Actual (center) of integration t",
         "DATE-OBS= '2010-10-15T19:12:26.000' / [ISO] [DATE",
         "CONTENT = 'MDI Full Disk 96m Magnetogram' / Type of data",
         "BUNIT   = 'Gauss   '           / Physical units of data",
         "TELESCOP= 'SOHO    '           / Observatory; SOHO",
         "WAVELNTH=                 6768 / [Angstrom] For MDI: 6768 Angstroms");
    expect_ident(&m, "SOHO", "MDI", "MDI", "magnetogram", 6);
    expect_time(&m, "2010-10-15T19:14:56.000Z");

    /* lasco_c2_25299383_s.header: empty TIME-OBS */
    META(&m, "DATE_OBS= '2009-02-28T00:05:33.380'", "DATE-OBS= '2009-02-28T00:05:33.380'",
         "INSTRUME= 'LASCO   '", "BUNIT   = 'MSB     '", "TIME-OBS= ''", "TELESCOP= 'SOHO    '",
         "DETECTOR= 'C2      '", "EXPTIME =        25.1262079357");
    expect_ident(&m, "SOHO", "LASCO", "C2", "white-light", 4);
    expect_time(&m, "2009-02-28T00:05:33.380Z");
    assert_true(fabs(m.exptime - 25.1262079357) < 1e-12);
    /* lasco_c3.header: DATE-OBS 'YYYY/MM/DD' + TIME-OBS */
    META(&m, "DATE-OBS= '2002/05/21'         /", "TIME-OBS= '00:18:06.516'       /",
         "EXPTIME =              19.0996 /", "TELESCOP= 'SOHO    '           /",
         "INSTRUME= 'LASCO   '           /", "DETECTOR= 'C3      '           /");
    expect_ident(&m, "SOHO", "LASCO", "C3", "white-light", 5);
    expect_time(&m, "2002-05-21T00:18:06.516Z");
    assert_int_equal(m.wavelength, 0);
}

static void test_stereo(void **state)
{
    (void)state;
    ff_obsmeta m;
    /* euvi_20090615_000900_n4euA_s.header: no TELESCOP */
    META(&m, "OBSRVTRY= 'STEREO_A'", "BUNIT   = 'DN      '", "EXPTIME =              16.0074",
         "DATE-OBS= '2009-06-15T00:09:00.006'", "INSTRUME= 'SECCHI  '",
         "WAVELNTH=                  171", "DETECTOR= 'EUVI    '");
    expect_ident(&m, "STEREO_A", "EUVI", "EUVI", "171", 20);
    expect_time(&m, "2009-06-15T00:09:00.006Z");
    static const struct {
        const char *tel, *wav;
        const char *obs;
        int id;
    } euvi[] = {
        {"TELESCOP= 'STEREO A'", "WAVELNTH=                  195", "STEREO_A", 21},
        {"TELESCOP= 'STEREO-A'", "WAVELNTH=                  284", "STEREO_A", 22},
        {"TELESCOP= 'STEREO_A'", "WAVELNTH=                  304", "STEREO_A", 23},
        {"TELESCOP= 'STEREO_B'", "WAVELNTH=                  171", "STEREO_B", 24},
        {"TELESCOP= 'Stereo B'", "WAVELNTH=                  195", "STEREO_B", 25},
        {"OBSRVTRY= 'STEREO_B'", "WAVELNTH=                  284", "STEREO_B", 26},
        {"TELESCOP= 'STEREO Behind'", "WAVELNTH=                  304", "STEREO_B", 27},
    };
    for (size_t i = 0; i < sizeof euvi / sizeof euvi[0]; i++) {
        META(&m, euvi[i].tel, euvi[i].wav, "INSTRUME= 'SECCHI'", "DETECTOR= 'EUVI'");
        expect_ident(&m, euvi[i].obs, "EUVI", "EUVI", euvi[i].wav + 27, euvi[i].id);
    }
    /* cor1_20090615_000500_s4c1A.header */
    META(&m, "DATE-OBS= '2009-06-15T00:05:00.004' /", "EXPTIME =              1.70021 / from MEB",
         "WAVELNTH=                    0 /", "DETECTOR= 'COR1    '           /",
         "INSTRUME= 'SECCHI  '           /", "OBSRVTRY= 'STEREO_A'           /");
    expect_ident(&m, "STEREO_A", "COR1", "COR1", "white-light", 28);
    expect_time(&m, "2009-06-15T00:05:00.004Z");
    META(&m, "OBSRVTRY= 'STEREO_A'", "INSTRUME= 'SECCHI'", "DETECTOR= 'COR2'");
    assert_int_equal(m.source_id, 29);
    META(&m, "OBSRVTRY= 'STEREO_B'", "INSTRUME= 'SECCHI'", "DETECTOR= 'COR1'");
    assert_int_equal(m.source_id, 30);
    META(&m, "TELESCOP= 'STEREO B'", "INSTRUME= 'SECCHI'", "DETECTOR= 'COR2'");
    assert_int_equal(m.source_id, 31);
    /* hi_20110910_114721_s7h2A.header: TELESCOP 'STEREO', OBSRVTRY says which; HI has no id */
    META(&m, "DATE-OBS= '2011-09-10T11:47:21.005' /", "DETECTOR= 'HI2     '           /",
         "INSTRUME= 'SECCHI  '           /", "OBSRVTRY= 'STEREO_A'           /",
         "TELESCOP= 'STEREO  '           /");
    assert_string_equal(m.observatory, "STEREO_A");
    assert_int_equal(m.source_id, -1);
}

static void test_proba2_goes(void **state)
{
    (void)state;
    ff_obsmeta m;
    /* swap_lv1_20140606_000113.header */
    META(&m, "EXPTIME =                 10.0 / [s] commanded exposure time",
         "DATE-OBS= '2014-06-06T00:01:13.567' / UTC time of observation",
         "INSTRUME= 'SWAP    '           / instrument name", "OBSRVTRY= 'PROBA2  '",
         "TELESCOP= 'PROBA2  '           / satellite name",
         "WAVELNTH=                  174 / [Angstrom] bandpass peak response",
         "DETECTOR= 'SWAP    '           / HAS CMOS detector 1024x1024 pixels");
    expect_ident(&m, "PROBA2", "SWAP", "SWAP", "174", 32);
    expect_time(&m, "2014-06-06T00:01:13.567Z");
    assert_true(m.exptime == 10.0);

    /* dr_suvi-l2-ci195_g16_..._rebinned.header */
    META(&m, "TIMESYS = 'UTC     '           / principal time system",
         "DATE-OBS= '2019-04-03T09:32:33.340' / sun observation reference time on sat",
         "EXPTIME =                  1.0 / [s] actual imaging exposure time",
         "WAVELNTH=                  195 / [angstrom] solar image wavelength",
         "INSTRUME= 'GOES-R Series Solar Ultraviolet Imager'", "DETECTOR= 'SUVI    '",
         "TELESCOP= 'GOES-R  '");
    expect_ident(&m, "GOES", "SUVI", "SUVI", "195", 2003);
    expect_time(&m, "2019-04-03T09:32:33.340Z");
    static const struct {
        const char *wav, *meas;
        int id;
    } suvi[] = {{"WAVELNTH=                   94", "94", 2000},
                {"WAVELNTH=                  131", "131", 2001},
                {"WAVELNTH=                  171", "171", 2002},
                {"WAVELNTH=                  284", "284", 2004},
                {"WAVELNTH=                  304", "304", 2005}};
    for (size_t i = 0; i < 5; i++) {
        META(&m, "TELESCOP= 'GOES-16'", "INSTRUME= 'GOES-R Series Solar Ultraviolet Imager'",
             suvi[i].wav);
        expect_ident(&m, "GOES-16", "SUVI", "SUVI", suvi[i].meas, suvi[i].id);
    }
}

static void test_unknown_instruments(void **state)
{
    (void)state;
    ff_obsmeta m;
    /* FGMG4_20110214_030443.7.header: time from DATE_OBS (no DATE-OBS) */
    META(&m, "TELESCOP= 'HINODE'", "DATE_OBS= '2011-02-14T03:04:43.785'",
         "TIME-OBS= '03:04:43.785'", "TIMESYS = 'UTC'", "INSTRUME= 'SOT/NB'",
         "EXPTIME =             0.204800");
    expect_ident(&m, "HINODE", "SOT/NB", "", "", -1);
    expect_time(&m, "2011-02-14T03:04:43.785Z");
    /* solo_L1_eui-fsi304...header */
    META(&m, "TELESCOP= 'SOLO/EUI/FSI'", "INSTRUME= 'EUI'", "DETECTOR= 'FSI'",
         "WAVELNTH=                  304", "DATE-OBS= '2020-10-21T14:55:10.206'",
         "TIMESYS = 'UTC'");
    assert_int_equal(m.source_id, -1);
    assert_string_equal(m.instrument, "EUI");
    assert_int_equal(m.wavelength, 304);
    /* YohkohSXT.header: WAVELNTH is a string */
    META(&m, "TELESCOP= 'Yohkoh'", "INSTRUME= 'SXT'", "WAVELNTH= 'Al.1'", "DATE-OBS= ''",
         "DATE_OBS= '1991-11-05T11:10:24.018'");
    assert_int_equal(m.wavelength, 0);
    expect_time(&m, "1991-11-05T11:10:24.018Z");
    /* Nothing at all */
    META(&m, "SIMPLE  =                    T");
    expect_ident(&m, "", "", "", "", -1);
    assert_false(m.has_time);
    assert_string_equal(m.time_iso, "");
    assert_non_null(strstr(m.time_reason, "no observation time"));
    assert_true(isnan(m.exptime));
}

static void test_time_keys(void **state)
{
    (void)state;
    ff_obsmeta m;
    /* T_OBS wins over DATE-OBS (aia_171_level1.fits). */
    META(&m, "T_OBS   = '2011-02-15T00:00:01.34Z'", "DATE-OBS= '2011-02-15T00:00:00.34'");
    expect_time(&m, "2011-02-15T00:00:01.340Z");
    /* TIMESYS sets the default scale (astropy: Time(..., scale='tai' / 'tt').utc). */
    META(&m, "TIMESYS = 'TAI'", "DATE-OBS= '2011-06-07T06:33:02.88'");
    expect_time(&m, "2011-06-07T06:32:28.880Z");
    META(&m, "TIMESYS = 'TT'", "DATE-OBS= '2011-06-07T06:33:02.88'");
    expect_time(&m, "2011-06-07T06:31:56.696Z");
    META(&m, "TIMESYS = 'TAI'", "DATE-OBS= '2011-06-07T06:33:02.88Z'");
    expect_time(&m, "2011-06-07T06:33:02.880Z");
    META(&m, "TIMESYS = 'UTC (TBR)'", "DATE-OBS= '2011-06-07T06:33:02.88'");
    expect_time(&m, "2011-06-07T06:33:02.880Z");
    /* Date-only DATE-OBS + TIME-OBS, old DD/MM/YY (19YY) */
    META(&m, "DATE-OBS= '07/06/98'", "TIME-OBS= '06:33:02.88'");
    expect_time(&m, "1998-06-07T06:33:02.880Z");
    /* A bad T_OBS falls back to DATE-OBS. */
    META(&m, "T_OBS   = 'yesterday'", "DATE-OBS= '2011-06-07T06:33:02.88'");
    expect_time(&m, "2011-06-07T06:33:02.880Z");

    /* Failures give a reason naming the key. */
    META(&m, "DATE-OBS= '2011-13-45'");
    assert_false(m.has_time);
    assert_string_equal(m.time_reason,
                        "DATE-OBS: cannot parse observation time '2011-13-45': "
                        "month 13 out of range");
    META(&m, "T_OBS   = '2011-02-29T00:00:00Z'", "DATE-OBS= 'garbage'");
    assert_false(m.has_time);
    assert_non_null(strstr(m.time_reason, "T_OBS: "));
    assert_non_null(strstr(m.time_reason, "day 29 out of range"));
    META(&m, "DATE-OBS= '2011-06-07'", "TIME-OBS= '25:00:00'");
    assert_false(m.has_time);
    assert_non_null(strstr(m.time_reason, "DATE-OBS + TIME-OBS: "));
    assert_non_null(strstr(m.time_reason, "hour 25"));
    META(&m, "DATE-OBS=                 2011");
    assert_false(m.has_time);
    assert_non_null(strstr(m.time_reason, "DATE-OBS is not a string"));
    META(&m, "DATE-OBS= '   '");
    assert_false(m.has_time);
    assert_non_null(strstr(m.time_reason, "no observation time"));
    /* An overlong value (joined CONTINUE cards) is refused, not truncated into a valid time. */
    META(&m, "DATE-OBS= '2011-06-07T06:33:02.1111111111111111111111111111111111111111111&'",
         "CONTINUE  '1111111111111111111111111111111111111111'");
    assert_false(m.has_time);
    assert_non_null(strstr(m.time_reason, "longer than 80 characters"));
}

/* Reads a FITS file's primary header with CFITSIO into h. */
static void read_header(const char *path, ff_header *h)
{
    fitsfile *f = NULL;
    int status = 0, nkeys = 0;
    char *cards = NULL;
    fits_open_file(&f, path, READONLY, &status);
    fits_hdr2str(f, 0, NULL, 0, &cards, &nkeys, &status);
    assert_int_equal(status, 0);
    ff_err err;
    assert_int_equal(ff_header_parse(cards, (size_t)nkeys, h, &err), 0);
    fits_free_memory(cards, &status);
    fits_close_file(f, &status);
}

/* The real SDO files: our identification and time against astropy's reading of the same files
 * (run live; astropy converts T_OBS to UTC itself). */
static void test_real_sdo_files(void **state)
{
    (void)state;
    static const struct {
        const char *file, *obs, *inst, *meas;
        int id;
    } files[] = {
        {"aia_171_level1.fits", "SDO", "AIA", "171", 10},
        {"resampled_hmi.fits", "SDO", "HMI", "continuum", 18},
        {"EIT/efz20040301.000010_s.fits", "SOHO", "EIT", "195", 1},
    };
    if (access(SUNPY_TEST_DATA "aia_171_level1.fits", R_OK) != 0 || access(PYTHON, X_OK) != 0)
        skip();
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd " SUNPY_TEST_DATA " && " PYTHON " -W ignore -c \""
             "import sys\n"
             "from astropy.io import fits\n"
             "from astropy.time import Time\n"
             "for f in sys.argv[1:]:\n"
             "    h = fits.getheader(f)\n"
             "    t = h.get('T_OBS') or h['DATE-OBS']\n"
             "    tai = t.endswith('_TAI')\n"
             "    t = t.replace('_TAI', '').rstrip('Z')\n"
             "    t = t[:10].replace('.', '-') + 'T' + t[11:]\n"
             "    iso = Time(t, scale='tai' if tai else 'utc').utc.isot\n"
             "    print(h['TELESCOP'].strip(), h['INSTRUME'].strip(), int(h['WAVELNTH']),"
             " h.get('EXPTIME', 'nan'), iso + 'Z', sep='|')\n"
             "\" %s %s %s 2>/dev/null",
             files[0].file, files[1].file, files[2].file);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    for (size_t i = 0; i < 3; i++) {
        char line[512], tel[80], ins[80], iso[64];
        int wav;
        double exptime;
        assert_non_null(fgets(line, sizeof line, p));
        char *fields[5], *save = NULL, *s = line;
        for (int k = 0; k < 5; k++, s = NULL)
            assert_non_null(fields[k] = strtok_r(s, "|\n", &save));
        snprintf(tel, sizeof tel, "%s", fields[0]);
        snprintf(ins, sizeof ins, "%s", fields[1]);
        wav = atoi(fields[2]);
        exptime = strtod(fields[3], NULL);
        snprintf(iso, sizeof iso, "%s", fields[4]);

        ff_header h;
        char path[512];
        snprintf(path, sizeof path, SUNPY_TEST_DATA "%s", files[i].file);
        read_header(path, &h);
        char got[80];
        assert_int_equal(ff_header_get_string(&h, "TELESCOP", got, sizeof got), 0);
        assert_string_equal(got, tel);
        assert_int_equal(ff_header_get_string(&h, "INSTRUME", got, sizeof got), 0);
        assert_string_equal(got, ins);
        ff_obsmeta m;
        ff_obsmeta_from_header(&h, &m);
        ff_header_free(&h);
        expect_ident(&m, files[i].obs, files[i].inst, files[i].inst, files[i].meas, files[i].id);
        assert_int_equal(m.wavelength, wav);
        if (isnan(exptime))
            assert_true(isnan(m.exptime));
        else
            assert_true(m.exptime == exptime);
        expect_time(&m, iso);
    }
    assert_int_equal(pclose(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_id_table),  cmocka_unit_test(test_source_id_spellings),
        cmocka_unit_test(test_aia_all_wavelengths), cmocka_unit_test(test_hmi),
        cmocka_unit_test(test_soho),             cmocka_unit_test(test_stereo),
        cmocka_unit_test(test_proba2_goes),      cmocka_unit_test(test_unknown_instruments),
        cmocka_unit_test(test_time_keys),        cmocka_unit_test(test_real_sdo_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
