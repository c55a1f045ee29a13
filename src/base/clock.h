/* Time for measuring and waiting: the monotonic clock in seconds (durations, deadlines, rates;
 * never the wall clock, which jumps), and the absolute time a condition-variable wait ends. */
#ifndef FF_BASE_CLOCK_H
#define FF_BASE_CLOCK_H

#include <time.h>

/* Seconds on CLOCK_MONOTONIC (an arbitrary origin: only differences mean anything). */
double ff_clock_now(void);

/* The time `seconds` from now on clock clk (CLOCK_MONOTONIC for a condition variable made with
 * pthread_condattr_setclock, CLOCK_REALTIME for a default one), for pthread_cond_timedwait. */
struct timespec ff_clock_after(clockid_t clk, double seconds);

#endif
