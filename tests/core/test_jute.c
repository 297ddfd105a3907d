/* Jute primitives: byte order, lengths and nulls, bounds, sticky failure, the growing writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jute.h"

#define MAX_FIELD 1048575

/* Readers get an exact-size heap copy, so ASan flags any read past the end. */
static uint8_t *dup_bytes(const void *bytes, size_t len)
{
    uint8_t *copy = malloc(len > 0 ? len : 1);
    assert_non_null(copy);
    if (len > 0)
        memcpy(copy, bytes, len);
    return copy;
}

static void ints_and_longs_are_big_endian_twos_complement(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    jute_write_int(&w, 0x01020304);
    jute_write_int(&w, -1);
    jute_write_int(&w, INT32_MIN);
    jute_write_long(&w, 0x0102030405060708);
    jute_write_long(&w, INT64_MIN);
    jute_write_long(&w, -2);
    static const uint8_t want[] = {
        0x01, 0x02, 0x03, 0x04, 0xff, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00,
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x80, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    };
    assert_false(w.failed);
    assert_int_equal(w.len, sizeof want);
    assert_memory_equal(w.buf, want, sizeof want);

    struct jute_reader r;
    jute_reader_init(&r, w.buf, w.len, MAX_FIELD);
    assert_int_equal(jute_read_int(&r), 0x01020304);
    assert_int_equal(jute_read_int(&r), -1);
    assert_int_equal(jute_read_int(&r), INT32_MIN);
    assert_true(jute_read_long(&r) == 0x0102030405060708);
    assert_true(jute_read_long(&r) == INT64_MIN);
    assert_true(jute_read_long(&r) == -2);
    assert_false(r.failed);
    assert_int_equal(jute_remaining(&r), 0);
    jute_writer_free(&w);
}

static void bools_write_one_and_read_any_nonzero_as_true(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    jute_write_bool(&w, true);
    jute_write_bool(&w, false);
    assert_int_equal(w.len, 2);
    assert_int_equal(w.buf[0], 1);
    assert_int_equal(w.buf[1], 0);
    jute_writer_free(&w);

    uint8_t bytes[] = {0x00, 0x01, 0x02, 0xff};
    struct jute_reader r;
    jute_reader_init(&r, bytes, sizeof bytes, MAX_FIELD);
    assert_false(jute_read_bool(&r));
    assert_true(jute_read_bool(&r));
    assert_true(jute_read_bool(&r));
    assert_true(jute_read_bool(&r));
    assert_false(r.failed);
}

static void buffers_distinguish_null_from_empty(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    jute_write_buffer(&w, NULL, -1);
    jute_write_buffer(&w, NULL, 0);
    jute_write_buffer(&w, "hi", 2);
    static const uint8_t want[] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 2, 'h', 'i'};
    assert_int_equal(w.len, sizeof want);
    assert_memory_equal(w.buf, want, sizeof want);

    struct jute_reader r;
    const uint8_t *data = (const uint8_t *)"sentinel";
    jute_reader_init(&r, w.buf, w.len, MAX_FIELD);
    assert_int_equal(jute_read_buffer(&r, &data), -1);
    assert_null(data);
    assert_int_equal(jute_read_buffer(&r, &data), 0);
    assert_non_null(data);
    assert_int_equal(jute_read_buffer(&r, &data), 2);
    assert_ptr_equal(data, w.buf + 12);
    assert_false(r.failed);
    assert_int_equal(jute_remaining(&r), 0);
    jute_writer_free(&w);
}

static void ustrings_are_terminated_in_place_and_later_fields_survive(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    jute_write_ustring(&w, "/a");
    jute_write_ustring(&w, "");
    jute_write_ustring(&w, NULL);
    jute_write_ustring(&w, "/longer/path");
    jute_write_int(&w, 0x11223344);
    jute_write_ustring(&w, "xyz");
    assert_false(w.failed);

    struct jute_reader r;
    bool is_null = true;
    size_t len = 99;
    jute_reader_init(&r, w.buf, w.len, MAX_FIELD);
    char *a = jute_read_ustring(&r, &is_null, &len);
    assert_string_equal(a, "/a");
    assert_false(is_null);
    assert_int_equal(len, 2);
    assert_ptr_equal(a, w.buf); /* moved over its own prefix */
    char *empty = jute_read_ustring(&r, &is_null, &len);
    assert_string_equal(empty, "");
    assert_false(is_null);
    assert_int_equal(len, 0);
    assert_null(jute_read_ustring(&r, &is_null, &len));
    assert_true(is_null);
    assert_int_equal(len, 0);
    char *longer = jute_read_ustring(&r, NULL, NULL);
    assert_int_equal(jute_read_int(&r), 0x11223344);
    char *xyz = jute_read_ustring(&r, NULL, &len);
    assert_false(r.failed);
    assert_int_equal(jute_remaining(&r), 0);
    /* Decoding the later strings did not disturb the earlier ones. */
    assert_string_equal(a, "/a");
    assert_string_equal(longer, "/longer/path");
    assert_string_equal(xyz, "xyz");
    assert_int_equal(len, 3);
    jute_writer_free(&w);
}

static void ustring_with_embedded_nul_reports_its_wire_length(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    jute_write_ustring_len(&w, "/a\0b", 4);
    static const uint8_t want[] = {0, 0, 0, 4, '/', 'a', 0, 'b'};
    assert_int_equal(w.len, sizeof want);
    assert_memory_equal(w.buf, want, sizeof want);

    struct jute_reader r;
    size_t len = 0;
    jute_reader_init(&r, w.buf, w.len, MAX_FIELD);
    char *s = jute_read_ustring(&r, NULL, &len);
    assert_non_null(s);
    assert_int_equal(len, 4);
    assert_int_equal(strlen(s), 2);
    assert_memory_equal(s, "/a\0b", 5);
    jute_writer_free(&w);
}

static void negative_lengths_other_than_minus_one_fail(void **state)
{
    (void)state;
    static const int32_t bad[] = {-2, -100, INT32_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct jute_writer w;
        jute_writer_init(&w);
        jute_write_int(&w, bad[i]);
        jute_write_raw(&w, "padding-bytes", 13);

        struct jute_reader r;
        const uint8_t *data = (const uint8_t *)"sentinel";
        jute_reader_init(&r, w.buf, w.len, MAX_FIELD);
        assert_int_equal(jute_read_buffer(&r, &data), 0);
        assert_null(data);
        assert_true(r.failed);

        bool is_null = true;
        size_t len = 99;
        jute_reader_init(&r, w.buf, w.len, MAX_FIELD);
        assert_null(jute_read_ustring(&r, &is_null, &len));
        assert_false(is_null);
        assert_int_equal(len, 0);
        assert_true(r.failed);

        jute_reader_init(&r, w.buf, w.len, MAX_FIELD);
        assert_int_equal(jute_read_count(&r, 1), 0);
        assert_true(r.failed);
        jute_writer_free(&w);
    }
}

static void lengths_above_max_field_bytes_fail_even_when_present(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    jute_write_buffer(&w, "0123456789", 10);

    struct jute_reader r;
    const uint8_t *data;
    jute_reader_init(&r, w.buf, w.len, 10);
    assert_int_equal(jute_read_buffer(&r, &data), 10);
    assert_false(r.failed);
    jute_reader_init(&r, w.buf, w.len, 9);
    assert_int_equal(jute_read_buffer(&r, &data), 0);
    assert_true(r.failed);
    jute_reader_init(&r, w.buf, w.len, 9);
    assert_null(jute_read_ustring(&r, NULL, NULL));
    assert_true(r.failed);
    jute_reader_init(&r, w.buf, w.len, 9);
    assert_int_equal(jute_read_count(&r, 1), 0);
    assert_true(r.failed);
    jute_writer_free(&w);
}

static void lengths_beyond_the_remaining_bytes_fail(void **state)
{
    (void)state;
    static const uint8_t bytes[] = {0, 0, 0, 5, 'a', 'b', 'c', 'd'};
    uint8_t *copy = dup_bytes(bytes, sizeof bytes);
    struct jute_reader r;
    const uint8_t *data;
    jute_reader_init(&r, copy, sizeof bytes, MAX_FIELD);
    assert_int_equal(jute_read_buffer(&r, &data), 0);
    assert_true(r.failed);
    memcpy(copy, bytes, sizeof bytes);
    jute_reader_init(&r, copy, sizeof bytes, MAX_FIELD);
    assert_null(jute_read_ustring(&r, NULL, NULL));
    assert_true(r.failed);
    assert_memory_equal(copy, bytes, sizeof bytes); /* a failed string is not moved */
    free(copy);
}

static void truncated_primitives_fail(void **state)
{
    (void)state;
    static const uint8_t bytes[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    for (size_t n = 0; n < sizeof bytes; n++) {
        uint8_t *copy = dup_bytes(bytes, n);
        struct jute_reader r;
        jute_reader_init(&r, copy, n, MAX_FIELD);
        assert_true(jute_read_long(&r) == 0);
        assert_true(r.failed);
        if (n < 4) {
            jute_reader_init(&r, copy, n, MAX_FIELD);
            assert_int_equal(jute_read_int(&r), 0);
            assert_true(r.failed);
            jute_reader_init(&r, copy, n, MAX_FIELD);
            assert_null(jute_read_ustring(&r, NULL, NULL));
            assert_true(r.failed);
            jute_reader_init(&r, copy, n, MAX_FIELD);
            assert_int_equal(jute_read_count(&r, 1), 0);
            assert_true(r.failed);
        }
        if (n == 0) {
            jute_reader_init(&r, copy, n, MAX_FIELD);
            assert_false(jute_read_bool(&r));
            assert_true(r.failed);
        }
        free(copy);
    }
}

static void failure_is_sticky(void **state)
{
    (void)state;
    uint8_t bytes[] = {0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 7, 1, 0, 0, 0, 0};
    struct jute_reader r;
    jute_reader_init(&r, bytes, sizeof bytes, MAX_FIELD);
    assert_int_equal(jute_read_buffer(&r, NULL), 0); /* -2 */
    assert_true(r.failed);
    assert_int_equal(jute_remaining(&r), 0);
    assert_int_equal(jute_read_int(&r), 0);
    assert_false(jute_read_bool(&r));
    assert_true(jute_read_long(&r) == 0);
    assert_null(jute_read_ustring(&r, NULL, NULL));
    assert_int_equal(jute_read_count(&r, 1), 0);
    assert_true(r.failed);
}

static void a_null_or_empty_input_fails_every_read(void **state)
{
    (void)state;
    struct jute_reader r;
    jute_reader_init(&r, NULL, 0, MAX_FIELD);
    assert_int_equal(jute_remaining(&r), 0);
    assert_false(r.failed);
    assert_false(jute_read_bool(&r));
    assert_true(r.failed);
    jute_reader_init(&r, NULL, 0, MAX_FIELD);
    assert_null(jute_read_ustring(&r, NULL, NULL));
    assert_true(r.failed);
    jute_reader_init(&r, NULL, 0, MAX_FIELD);
    assert_int_equal(jute_read_buffer(&r, NULL), 0);
    assert_true(r.failed);
}

static void vector_counts_are_bounded_by_the_remaining_bytes(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    jute_write_int(&w, 3);
    jute_write_raw(&w, "abcdefghijkl", 12);
    struct jute_reader r;

    jute_reader_init(&r, w.buf, w.len, MAX_FIELD);
    assert_int_equal(jute_read_count(&r, 4), 3); /* exactly fits */
    assert_false(r.failed);
    jute_reader_init(&r, w.buf, w.len, MAX_FIELD);
    assert_int_equal(jute_read_count(&r, 5), 0);
    assert_true(r.failed);
    jute_reader_init(&r, w.buf, w.len, 2);
    assert_int_equal(jute_read_count(&r, 1), 0); /* above max_field_bytes */
    assert_true(r.failed);

    /* Elements have at least one byte, so 0 can't let an absurd count through. */
    jute_writer_reset(&w);
    jute_write_int(&w, INT32_MAX);
    jute_write_raw(&w, "abc", 3);
    jute_reader_init(&r, w.buf, w.len, SIZE_MAX);
    assert_int_equal(jute_read_count(&r, 0), 0);
    assert_true(r.failed);
    jute_reader_init(&r, w.buf, w.len, SIZE_MAX);
    assert_int_equal(jute_read_count(&r, SIZE_MAX), 0);
    assert_true(r.failed);

    jute_writer_reset(&w);
    jute_write_int(&w, -1);
    jute_write_int(&w, 0);
    jute_reader_init(&r, w.buf, w.len, MAX_FIELD);
    assert_int_equal(jute_read_count(&r, 8), -1);
    assert_int_equal(jute_read_count(&r, 8), 0);
    assert_false(r.failed);
    jute_writer_free(&w);
}

static void writer_grows_by_doubling_and_keeps_every_byte(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    assert_null(w.buf);
    size_t last_cap = 0;
    for (int32_t i = 0; i < 10000; i++) {
        jute_write_int(&w, i);
        if (w.cap != last_cap) {
            if (last_cap != 0)
                assert_int_equal(w.cap, 2 * last_cap);
            last_cap = w.cap;
        }
    }
    assert_false(w.failed);
    assert_int_equal(w.len, 40000);
    struct jute_reader r;
    jute_reader_init(&r, w.buf, w.len, MAX_FIELD);
    for (int32_t i = 0; i < 10000; i++)
        assert_int_equal(jute_read_int(&r), i);
    assert_false(r.failed);
    jute_writer_free(&w);
    assert_null(w.buf);
    assert_int_equal(w.len, 0);
    assert_int_equal(w.cap, 0);
}

static void writer_reset_keeps_the_allocation_and_clears_failure(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    jute_write_long(&w, 1);
    uint8_t *buf = w.buf;
    size_t cap = w.cap;
    jute_write_buffer(&w, "x", -5);
    assert_true(w.failed);
    jute_writer_reset(&w);
    assert_false(w.failed);
    assert_int_equal(w.len, 0);
    assert_ptr_equal(w.buf, buf);
    assert_int_equal(w.cap, cap);
    jute_write_int(&w, 7);
    assert_int_equal(w.len, 4);
    jute_writer_free(&w);
}

static void writer_rejects_bad_arguments_and_stays_failed(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    jute_write_buffer(&w, NULL, 3); /* bytes that aren't there */
    assert_true(w.failed);
    assert_int_equal(w.len, 0);
    jute_write_int(&w, 1);
    jute_write_ustring(&w, "ignored");
    assert_int_equal(w.len, 0);
    jute_writer_free(&w);

    jute_writer_init(&w);
    jute_write_bool(&w, true);
    uint8_t byte = 0;
    jute_write_raw(&w, &byte, SIZE_MAX); /* len + n overflows: treated as ENOMEM */
    assert_true(w.failed);
    assert_int_equal(w.len, 1);
    jute_writer_free(&w);

    jute_writer_init(&w);
    jute_write_int(&w, 1);
    jute_patch_int(&w, 1, 5); /* would run past len */
    assert_true(w.failed);
    jute_writer_free(&w);

    jute_writer_init(&w);
    jute_frame_end(&w, 0); /* no frame was begun */
    assert_true(w.failed);
    jute_writer_free(&w);
}

static void ustring_null_and_ustring_len_encode_as_specified(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    jute_write_ustring(&w, NULL);
    jute_write_ustring_len(&w, NULL, 5);
    jute_write_ustring_len(&w, "abcdef", 3);
    static const uint8_t want[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0,    0,    0,    3,    'a',  'b',  'c'};
    assert_false(w.failed);
    assert_int_equal(w.len, sizeof want);
    assert_memory_equal(w.buf, want, sizeof want);
    jute_writer_free(&w);
}

static void frames_carry_a_length_that_excludes_itself(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    size_t first = jute_frame_begin(&w);
    jute_frame_end(&w, first);
    size_t second = jute_frame_begin(&w);
    jute_write_int(&w, -2);
    jute_write_long(&w, 5);
    jute_write_int(&w, 0);
    jute_frame_end(&w, second);
    static const uint8_t want[] = {0, 0, 0, 0, 0, 0, 0, 16, 0xff, 0xff, 0xff, 0xfe,
                                   0, 0, 0, 0, 0, 0, 0, 5,  0,    0,    0,    0};
    assert_int_equal(first, 0);
    assert_int_equal(second, 4);
    assert_false(w.failed);
    assert_int_equal(w.len, sizeof want);
    assert_memory_equal(w.buf, want, sizeof want);

    jute_patch_int(&w, 8, 0x01020304);
    static const uint8_t patched[] = {1, 2, 3, 4};
    assert_memory_equal(w.buf + 8, patched, 4);
    jute_writer_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ints_and_longs_are_big_endian_twos_complement),
        cmocka_unit_test(bools_write_one_and_read_any_nonzero_as_true),
        cmocka_unit_test(buffers_distinguish_null_from_empty),
        cmocka_unit_test(ustrings_are_terminated_in_place_and_later_fields_survive),
        cmocka_unit_test(ustring_with_embedded_nul_reports_its_wire_length),
        cmocka_unit_test(negative_lengths_other_than_minus_one_fail),
        cmocka_unit_test(lengths_above_max_field_bytes_fail_even_when_present),
        cmocka_unit_test(lengths_beyond_the_remaining_bytes_fail),
        cmocka_unit_test(truncated_primitives_fail),
        cmocka_unit_test(failure_is_sticky),
        cmocka_unit_test(a_null_or_empty_input_fails_every_read),
        cmocka_unit_test(vector_counts_are_bounded_by_the_remaining_bytes),
        cmocka_unit_test(writer_grows_by_doubling_and_keeps_every_byte),
        cmocka_unit_test(writer_reset_keeps_the_allocation_and_clears_failure),
        cmocka_unit_test(writer_rejects_bad_arguments_and_stays_failed),
        cmocka_unit_test(ustring_null_and_ustring_len_encode_as_specified),
        cmocka_unit_test(frames_carry_a_length_that_excludes_itself),
    };
    return cmocka_run_group_tests_name("jute", tests, NULL, NULL);
}
