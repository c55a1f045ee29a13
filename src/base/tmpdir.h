/* Where temporary files go: TMPDIR (the platform's variable; Lambda points it at /tmp), else /tmp. */
#ifndef FF_BASE_TMPDIR_H
#define FF_BASE_TMPDIR_H

const char *ff_tmp_dir(void);

#endif
