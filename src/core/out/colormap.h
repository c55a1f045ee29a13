/* 256-entry colour tables for the colour renders: the SDO AIA channel tables (the same tables as
 * sunpy's sdoaia94 ... sdoaia4500, computed from their published formulas), IDL table 3 ("red
 * temperature", the heat table sunpy uses for several instruments) and gray. */
#ifndef FF_CORE_OUT_COLORMAP_H
#define FF_CORE_OUT_COLORMAP_H

#include <stdint.h>

typedef struct ff_colormap {
    char name[32];        /* "sdoaia171", "heat", "gray" */
    uint8_t rgb[256][3];  /* entry i is the colour of level i (0 darkest) */
} ff_colormap;

/* The AIA table for an AIA wavelength in angstrom (94, 131, 171, 193, 211, 304, 335, 1600, 1700,
 * 4500). Returns 0, or -1 when there is no AIA table for that wavelength (cm is then untouched). */
int ff_colormap_aia(int wavelength, ff_colormap *cm);

/* IDL colour table 3, "red temperature": black - red - yellow - white. */
void ff_colormap_heat(ff_colormap *cm);

/* Linear gray. */
void ff_colormap_gray(ff_colormap *cm);

/* A table by name: "sdoaia<wavelength>", "heat" or "gray". Returns 0, or -1 for an unknown name. */
int ff_colormap_by_name(const char *name, ff_colormap *cm);

/* The table for an observation: gray for magnetograms; the AIA table for AIA (and the nearest AIA
 * channel for EUV imagers, as sunpy does for SUVI: 195 -> 193, 284 -> 335, 174 -> 171); heat for
 * everything else, including an AIA image of unknown wavelength. instrument and measurement may
 * be "" or NULL. */
void ff_colormap_for(const char *instrument, const char *measurement, int wavelength,
                     ff_colormap *cm);

#endif
