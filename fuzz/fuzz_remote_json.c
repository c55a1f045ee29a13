/* Harness 7: what Helioviewer answers, as JSON. The input is given to the getClosestImage answer
 * parser and the events (HEK) answer parser exactly as a server's body would be, and as HEK JSON
 * into the ASDF writer with a tiny image (the hek node is the JSON turned into YAML). Invariants:
 * an accepted closest-image answer has an id of digits; a refusal says why in one line; the ASDF is
 * always written (invalid HEK JSON is only a note) and its YAML tree parses with libyaml. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/out/asdf.h"
#include "core/out/sink.h"
#include "remote/answers.h"
#include "fuzz_util.h"

static void one_line(const ff_remote_result *res)
{
    if (!res->message[0] || strchr(res->message, '\n'))
        abort();
}

/* The YAML document of an ASDF file: from the start to the "..." line before the blocks. */
static void check_yaml(const unsigned char *buf, size_t len)
{
    const unsigned char *e = memmem(buf, len, "\n...\n", 5);
    if (!e)
        abort();
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        abort();
    yaml_parser_set_input_string(&parser, buf, (size_t)(e - buf) + 5);
    yaml_event_t ev;
    int done = 0, n = 0;
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            fprintf(stderr, "YAML error: %s at line %zu\n", parser.problem ? parser.problem : "?",
                    parser.problem_mark.line + 1);
            abort();
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (++n > 10000000)
            abort();
    }
    yaml_parser_delete(&parser);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ff_remote_result res = {0};
    char id[32], date[40];
    double t = 1371923491.0; /* 2013-06-22T17:51:31Z */
    if (ff_helioviewer_closest_answer(data, size, "application/json", t, "2013-06-22T17:51:31Z", 14, 60,
                                      id, date, &res) == 0) {
        if (!id[0] || strspn(id, "0123456789") != strlen(id) || strlen(date) >= sizeof date)
            abort();
    } else {
        one_line(&res);
    }
    memset(&res, 0, sizeof res);
    size_t n = 0;
    if (ff_hek_events_answer(data, size, "", &n, &res) != 0)
        one_line(&res);

    int16_t px[6] = {1, -2, 3, 400, -32768, 32767};
    ff_image img = {.dtype = FF_I16, .ndim = 2, .shape = {2, 3}, .nelem = 6, .data = px};
    ff_membuf out = {.max = (size_t)64 << 20};
    ff_sink sink = ff_membuf_sink(&out);
    ff_asdf_input in = {.source_name = "fuzz.fits", .image = &img, .hek_json = (const char *)data,
                        .hek_json_len = size, .compress = (int)(size & 1), .nthreads = 1};
    ff_err err = {0};
    if (ff_asdf_write(&in, &sink, &err) != 0) {
        fprintf(stderr, "ff_asdf_write: %s\n", err.msg);
        abort();
    }
    check_yaml(out.data, out.len);
    ff_membuf_free(&out);
    return 0;
}
