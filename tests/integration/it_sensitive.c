/*
 * it_sensitive.c - the design's cdc.sensitive_fields: the values of those
 * columns never reach a published event or a log line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itlib.h"

#define NAME "it_sensitive"

static void
test_sensitive_fields_never_leave_the_daemon(void **state)
{
    const char *extra[] = {"-X", "cdc.sensitive_fields=password,public.users.email",
                           "--exit-when-idle", "1500", NULL};
    struct it_msgs ms;
    char buf[4096];
    PGconn *c;
    FILE *f;
    pid_t pid;

    (void) state;
    c = it_fresh_db(NAME);
    it_sql(c, "CREATE TABLE users (id int PRIMARY KEY, name text, password text, email text)");
    it_sql(c, "ALTER TABLE users REPLICA IDENTITY FULL");
    it_sql(c, "CREATE TABLE contacts (id int PRIMARY KEY, email text, password text)");
    unlink(it_daemon_log(NAME));
    pid = it_daemon_start(NAME, NAME, extra);
    it_wait_slot_active(c, NAME);
    it_sql(c, "INSERT INTO users VALUES (1, 'ann', 'PW-Secret-1', 'ann@secret.example')");
    it_sql(c, "UPDATE users SET password = 'PW-Secret-2', name = 'anne' WHERE id = 1");
    it_sql(c, "DELETE FROM users WHERE id = 1");
    it_sql(c, "INSERT INTO contacts VALUES (1, 'visible@example.org', 'PW-Secret-3')");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);

    it_read_stream(NAME, &ms);
    assert_int_equal(ms.n, 4);
    for (int i = 0; i < ms.n; i++) {
        assert_null(strstr(ms.v[i].data, "PW-Secret"));
        assert_null(strstr(ms.v[i].data, "secret.example"));
        assert_null(strstr(ms.v[i].data, "\"password\""));
    }
    assert_non_null(strstr(ms.v[1].data, "\"after\":{\"id\":1,\"name\":\"anne\"}"));
    assert_non_null(strstr(ms.v[1].data, "\"before\":{\"id\":1,\"name\":\"ann\"}"));
    /* the qualified rule is for public.users only: contacts keeps its email */
    assert_non_null(strstr(ms.v[3].data, "\"after\":{\"id\":1,\"email\":\"visible@example.org\"}"));
    it_msgs_free(&ms);

    /* and the debug-level log holds none of them either */
    f = fopen(it_daemon_log(NAME), "r");
    assert_non_null(f);
    while (fgets(buf, sizeof(buf), f) != NULL) {
        assert_null(strstr(buf, "PW-Secret"));
        assert_null(strstr(buf, "secret.example"));
    }
    fclose(f);
    PQfinish(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sensitive_fields_never_leave_the_daemon),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
