/* migrate.c - `detector migrate`: moves the state in Redis to the layout
 * this version reads (store.h, STORE_LAYOUT), once, with every daemon
 * stopped. `detector run` refuses a store of an older layout. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "store.h"

int cmd_migrate(const char *conf_path, int dry_run)
{
    config_t cfg;
    ruleset_t *rs = NULL;
    char err[512];
    int found = 0, layout = 0, rc = 1;
    unsigned long keys = 0, members = 0;

    if (setup_load(conf_path, NULL, &cfg, &rs) < 0) return 1;
    store_t *st = store_redis_new(cfg.redis_host, (int)cfg.redis_port, cfg.redis_user,
                                  cfg.redis_password, (int)cfg.redis_db, cfg.redis_prefix,
                                  (int)cfg.redis_timeout_ms, err, sizeof err);
    if (!st) {
        fprintf(stderr, "detector migrate: redis %s:%ld: %s\n", cfg.redis_host, cfg.redis_port,
                err);
        goto out;
    }
    if (store_marker_layout(st, &found, &layout, err, sizeof err) < 0) {
        fprintf(stderr, "detector migrate: %s\n", err);
        goto out;
    }
    if (found && layout >= STORE_LAYOUT) {
        printf("state layout %d: nothing to migrate\n", layout);
        rc = 0;
        goto out;
    }
    if (store_redis_migrate(st, dry_run, &keys, &members, err, sizeof err) < 0) {
        fprintf(stderr,
                "detector migrate: %s (the keys moved so far are in layout %d; run it "
                "again)\n",
                err, STORE_LAYOUT);
        goto out;
    }
    printf("%s %lu keys of layout 1 (%lu members) into layout %d%s\n",
           dry_run ? "would move" : "moved", keys, members, STORE_LAYOUT,
           dry_run ? "" : "; the state marker says so");
    rc = 0;
out:
    store_free(st);
    ruleset_free(rs);
    config_clear(&cfg);
    return rc;
}
