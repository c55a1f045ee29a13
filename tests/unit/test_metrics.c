/* Metrics: counts from many threads add up, labels stay safe, and every line of the rendering
 * follows the Prometheus text format (checked line by line with a small independent grammar). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/metrics.h"

/* The value of the sample whose name+labels is exactly `series`, or -1. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, series, n) && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static void check_format(const char *text)
{
    regex_t sample_re, comment_re;
    assert_int_equal(regcomp(&sample_re,
                             "^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"\\\\\n]*\""
                             "(,[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"\\\\\n]*\")*\\})? "
                             "(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|\\+Inf|NaN)$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    assert_int_equal(regcomp(&comment_re, "^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    char *copy = strdup(text);
    assert_non_null(copy);
    assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int ok = line[0] == '#' ? regexec(&comment_re, line, 0, NULL, 0) == 0
                                : regexec(&sample_re, line, 0, NULL, 0) == 0;
        if (!ok)
            fail_msg("not Prometheus text format: '%s'", line);
    }
    free(copy);
    regfree(&sample_re);
    regfree(&comment_re);
}

typedef struct hammer_arg {
    ff_metrics *m;
    int id;
} hammer_arg;

static void *hammer(void *p)
{
    hammer_arg *a = p;
    char route[16];
    snprintf(route, sizeof route, "r%d", a->id % 3);
    for (int i = 0; i < 10000; i++) {
        ff_metrics_request(a->m, route, 200);
        ff_metrics_bytes(a->m, 3, 5);
        ff_metrics_step(a->m, 2 + i % 6, 0.2);
    }
    return NULL;
}

static void test_counts_and_format(void **state)
{
    (void)state;
    ff_metrics *m = ff_metrics_new();
    assert_non_null(m);
    pthread_t th[4];
    hammer_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (hammer_arg){m, i};
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ff_metrics_request(m, "trigger", 429);
    ff_metrics_request(m, "bad\"label", 404);      /* unsafe: counted as other */
    ff_metrics_request(m, "api", 99);                /* not a status: ignored */
    ff_metrics_job(m, 1);
    ff_metrics_job(m, 1);
    ff_metrics_job(m, 0);
    ff_metrics_file(m, "processed");
    ff_metrics_file(m, "skipped");
    ff_metrics_file(m, "skipped");
    ff_metrics_step(m, 3, 0.004);
    ff_metrics_step(m, 3, 1000);
    ff_metrics_step(m, 9, 1);                        /* not a step: ignored */
    char *t = ff_metrics_render(m, 4, 1);
    assert_non_null(t);
    check_format(t);
    assert_true(sample(t, "fitsflow_http_requests_total{route=\"r0\",status=\"200\"}") == 20000);
    assert_true(sample(t, "fitsflow_http_requests_total{route=\"r1\",status=\"200\"}") == 10000);
    assert_true(sample(t, "fitsflow_http_requests_total{route=\"r2\",status=\"200\"}") == 10000);
    assert_true(sample(t, "fitsflow_http_requests_total{route=\"trigger\",status=\"429\"}") == 1);
    assert_true(sample(t, "fitsflow_http_requests_total{route=\"other\",status=\"404\"}") == 1);
    assert_null(strstr(t, "bad"));
    assert_null(strstr(t, "route=\"api\""));
    assert_true(sample(t, "fitsflow_http_bytes_in_total") == 120000);
    assert_true(sample(t, "fitsflow_http_bytes_out_total") == 200000);
    assert_true(sample(t, "fitsflow_jobs_total{result=\"ok\"}") == 2);
    assert_true(sample(t, "fitsflow_jobs_total{result=\"failed\"}") == 1);
    assert_true(sample(t, "fitsflow_files_total{status=\"processed\"}") == 1);
    assert_true(sample(t, "fitsflow_files_total{status=\"skipped\"}") == 2);
    assert_true(sample(t, "fitsflow_files_total{status=\"failed\"}") == 0);
    assert_true(sample(t, "fitsflow_queue_depth{state=\"pending\"}") == 4);
    assert_true(sample(t, "fitsflow_queue_depth{state=\"running\"}") == 1);
    /* Each thread: 10000 samples of 0.2 s over steps 2..7 in turn, so steps 2-5 get 1667 and 6-7
     * get 1666; 4 threads. Data got 2 more (0.004 s and 1000 s). */
    double data_count = sample(t, "fitsflow_step_seconds_count{step=\"data\"}");
    assert_true(data_count == 4 * 1667 + 2);
    assert_true(sample(t, "fitsflow_step_seconds_bucket{step=\"data\",le=\"0.01\"}") == 1);
    assert_true(sample(t, "fitsflow_step_seconds_bucket{step=\"data\",le=\"0.1\"}") == 1);
    assert_true(sample(t, "fitsflow_step_seconds_bucket{step=\"data\",le=\"0.25\"}") == 4 * 1667 + 1);
    assert_true(sample(t, "fitsflow_step_seconds_bucket{step=\"data\",le=\"120\"}") == 4 * 1667 + 1);
    assert_true(sample(t, "fitsflow_step_seconds_bucket{step=\"data\",le=\"+Inf\"}") == data_count);
    double sum = sample(t, "fitsflow_step_seconds_sum{step=\"data\"}");
    assert_true(sum > 1000.004 + 4 * 1667 * 0.2 - 0.01 && sum < 1000.004 + 4 * 1667 * 0.2 + 0.01);
    assert_true(sample(t, "fitsflow_step_seconds_count{step=\"asdf\"}") == 4 * 1666);
    free(t);
    ff_metrics_free(m);
}

static void test_route_table_is_bounded(void **state)
{
    (void)state;
    ff_metrics *m = ff_metrics_new();
    char name[32];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "route_%d", i);
        ff_metrics_request(m, name, 200);
    }
    char *t = ff_metrics_render(m, 0, 0);
    assert_non_null(t);
    check_format(t);
    assert_true(sample(t, "fitsflow_http_requests_total{route=\"route_0\",status=\"200\"}") == 1);
    /* The table holds 24 routes including "other": the rest are counted there. */
    assert_true(sample(t, "fitsflow_http_requests_total{route=\"other\",status=\"200\"}") == 100 - 23);
    assert_true(sample(t, "fitsflow_http_requests_total{route=\"route_99\",status=\"200\"}") == -1);
    free(t);
    ff_metrics_free(m);
    ff_metrics_free(NULL);
    ff_metrics_request(NULL, "api", 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_and_format),
        cmocka_unit_test(test_route_table_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
