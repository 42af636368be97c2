/*
 * test_log.c - the warn/error rate limit of core/log.c: 5 records of a kind
 * per 10 s window, the rest dropped and counted in one "N similar lines
 * suppressed" record after the window; info and debug never dropped. The
 * records are captured through cdc_log_set_fd() into a temp file, and time is
 * a fake clock set by the tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

static int64_t fake_now_ms;
static FILE *cap;       /* temp file the records go to */
static long cap_read;   /* bytes already taken by take() */
static char out[65536]; /* what take() returned last */

static int64_t
fake_clock(void)
{
    return fake_now_ms;
}

static int
setup(void **state)
{
    (void) state;
    cap = tmpfile();
    assert_non_null(cap);
    cap_read = 0;
    fake_now_ms = 1000000;
    cdc_log_setup(CDC_LOG_DEBUG, CDC_LOG_JSON);
    cdc_log_set_context(NULL, NULL);
    cdc_log_set_position(NULL);
    cdc_log_set_clock(fake_clock);
    cdc_log_set_ratelimit(CDC_LOG_RL_BURST, CDC_LOG_RL_WINDOW_MS);
    cdc_log_set_fd(fileno(cap));
    return 0;
}

static int
teardown(void **state)
{
    (void) state;
    cdc_log_set_fd(STDERR_FILENO);
    cdc_log_set_clock(NULL);
    cdc_log_set_ratelimit(CDC_LOG_RL_BURST, CDC_LOG_RL_WINDOW_MS);
    fclose(cap);
    return 0;
}

/* The records written since the last take(), NUL-terminated in out. */
static const char *
take(void)
{
    ssize_t n = pread(fileno(cap), out, sizeof(out) - 1, cap_read);

    assert_true(n >= 0);
    out[n] = '\0';
    cap_read += n;
    return out;
}

static int
count_lines(const char *s)
{
    int n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static int
count_sub(const char *s, const char *sub)
{
    int n = 0;

    for (const char *p = s; (p = strstr(p, sub)) != NULL; p += strlen(sub))
        n++;
    return n;
}

static void
test_log_writes_first_five_of_a_kind_and_drops_the_rest(void **state)
{
    const char *s;

    (void) state;
    for (int i = 0; i < 12; i++) {
        log_warn("sink", "publish failed: attempt %d", i);
        fake_now_ms += 100; /* all within 1.2 s */
    }
    s = take();
    assert_int_equal(count_lines(s), 5);
    assert_non_null(strstr(s, "\"msg\":\"publish failed: attempt 0\""));
    assert_non_null(strstr(s, "\"msg\":\"publish failed: attempt 4\""));
    assert_null(strstr(s, "attempt 5"));
    assert_null(strstr(s, "suppressed"));
}

static void
test_log_same_kind_after_window_writes_summary_then_the_line(void **state)
{
    const char *s;

    (void) state;
    for (int i = 0; i < 12; i++)
        log_error("ckpt", "could not write checkpoint: %s", "disk full");
    assert_int_equal(count_lines(take()), 5);

    fake_now_ms += 9999; /* still inside the window */
    log_error("ckpt", "could not write checkpoint: %s", "disk full");
    assert_string_equal(take(), "");

    fake_now_ms += 1; /* window over: 12 + 1 - 5 = 8 dropped */
    log_error("ckpt", "could not write checkpoint: %s", "still full");
    s = take();
    assert_int_equal(count_lines(s), 2);
    /* the summary comes first, at the kind's level, names the module and the count */
    assert_true(strncmp(strstr(s, "\"level\""), "\"level\":\"error\",\"mod\":\"ckpt\"", 28) == 0);
    assert_non_null(strstr(s, "\"msg\":\"8 similar lines suppressed from module ckpt"));
    assert_true(strstr(s, "suppressed") < strstr(s, "still full"));
    /* a new window: 4 more of the kind are written, the 6th is dropped */
    for (int i = 0; i < 5; i++)
        log_error("ckpt", "could not write checkpoint: %s", "again");
    assert_int_equal(count_lines(take()), 4);
}

static void
test_log_summary_comes_at_next_call_of_any_level_after_window(void **state)
{
    const char *s;

    (void) state;
    for (int i = 0; i < 7; i++)
        log_warn("pgsrc", "keepalive late by %d ms", i);
    assert_int_equal(count_lines(take()), 5);

    fake_now_ms += 10000;
    log_info("main", "unrelated");
    s = take();
    assert_int_equal(count_lines(s), 2);
    assert_non_null(strstr(s, "\"level\":\"warn\",\"mod\":\"pgsrc\""));
    assert_non_null(strstr(s, "2 similar lines suppressed from module pgsrc"));
    assert_non_null(strstr(s, "\"mod\":\"main\",\"msg\":\"unrelated\""));

    /* said once only */
    fake_now_ms += 20000;
    log_info("main", "unrelated");
    assert_int_equal(count_sub(take(), "suppressed"), 0);
}

static void
test_log_no_summary_when_nothing_was_dropped(void **state)
{
    (void) state;
    for (int i = 0; i < 5; i++)
        log_warn("sink", "slow ack %d", i);
    fake_now_ms += 60000;
    log_warn("sink", "slow ack %d", 99);
    assert_int_equal(count_lines(take()), 6);
    assert_int_equal(count_sub(out, "suppressed"), 0);
}

static void
test_log_info_and_debug_are_never_dropped(void **state)
{
    (void) state;
    for (int i = 0; i < 100; i++) {
        log_info("pipeline", "batch %d", i);
        log_debug("pipeline", "batch %d", i);
    }
    assert_int_equal(count_lines(take()), 200);
}

static void
test_log_kinds_differ_by_module_format_and_level(void **state)
{
    const char *s;

    (void) state;
    for (int i = 0; i < 8; i++) {
        log_warn("sink", "a %d", i);
        log_warn("pgsrc", "a %d", i); /* other module */
        log_warn("sink", "b %d", i);  /* other format */
        log_error("sink", "a %d", i); /* other level */
    }
    s = take();
    assert_int_equal(count_lines(s), 20);
    fake_now_ms += 10000;
    log_info("x", "tick");
    s = take();
    assert_int_equal(count_sub(s, "3 similar lines suppressed"), 4);
    assert_int_equal(count_sub(s, "suppressed from module sink"), 3);
    assert_int_equal(count_sub(s, "suppressed from module pgsrc"), 1);
}

static void
test_log_text_format_summary(void **state)
{
    const char *s;

    (void) state;
    cdc_log_setup(CDC_LOG_DEBUG, CDC_LOG_TEXT);
    for (int i = 0; i < 6; i++)
        log_warn("http", "bind failed");
    fake_now_ms += 10000;
    log_warn("http", "bind failed");
    s = take();
    assert_int_equal(count_lines(s), 7);
    assert_non_null(
        strstr(s, "level=warn mod=http msg=\"1 similar lines suppressed from module http"));
    cdc_log_setup(CDC_LOG_DEBUG, CDC_LOG_JSON);
}

static void
test_log_burst_zero_turns_the_limit_off(void **state)
{
    (void) state;
    cdc_log_set_ratelimit(0, CDC_LOG_RL_WINDOW_MS);
    for (int i = 0; i < 50; i++)
        log_error("sink", "boom");
    assert_int_equal(count_lines(take()), 50);
}

static void
test_log_evicting_a_kind_says_what_it_dropped(void **state)
{
    const char *s;
    char mod[16];

    (void) state;
    for (int i = 0; i < 7; i++)
        log_warn("old", "x");
    fake_now_ms += 1;
    /* 64 more kinds, the table's size: the oldest kind, "old", is pushed out */
    for (int i = 0; i < 64; i++) {
        snprintf(mod, sizeof(mod), "m%d", i);
        log_warn(mod, "y");
    }
    s = take();
    assert_int_equal(count_lines(s), 5 + 1 + 64);
    assert_non_null(strstr(s, "2 similar lines suppressed from module old"));
}

#define THREADS    4
#define PER_THREAD 500

static void *
storm(void *arg)
{
    (void) arg;
    for (int i = 0; i < PER_THREAD; i++)
        log_error("sink", "publish failed: %d", i);
    return NULL;
}

static void
test_log_limit_holds_across_threads(void **state)
{
    pthread_t t[THREADS];
    const char *s;
    char want[64];

    (void) state;
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, storm, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    s = take();
    assert_int_equal(count_lines(s), 5);
    fake_now_ms += 10000;
    log_info("main", "done");
    s = take();
    snprintf(want, sizeof(want), "%d similar lines suppressed", THREADS * PER_THREAD - 5);
    assert_non_null(strstr(s, want));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_log_writes_first_five_of_a_kind_and_drops_the_rest,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_log_same_kind_after_window_writes_summary_then_the_line, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_log_summary_comes_at_next_call_of_any_level_after_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_no_summary_when_nothing_was_dropped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_info_and_debug_are_never_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_kinds_differ_by_module_format_and_level, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_text_format_summary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_burst_zero_turns_the_limit_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_evicting_a_kind_says_what_it_dropped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_limit_holds_across_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
