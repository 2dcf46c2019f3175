-- Satu Data gateway: wake the gateway's change capture the moment a row changes (PostgreSQL).
--
-- Run once in the OPD's database, by the OPD's DBA:   psql -d siak -f notify_trigger.sql
-- then set `kind = "notify"` in the gateway's [sources.NAME.changes] table. The gateway still
-- reads the changes by their change column (tgl_update) from its stored position, so a notice
-- sent while no gateway listens is never lost: it only wakes the next poll early.
--
-- The notice carries the row's key and the operation, nothing else of the record.
-- As shipped it watches `penduduk` (key `nik`) and notifies channel `satudata_changes`;
-- for another table change the CREATE TRIGGER line: ON <table>, and the function's two
-- arguments (<channel>, <key column>). The channel must equal [sources.NAME.changes] channel.
-- Remove it with: DROP TRIGGER satudata_notify_change ON penduduk;

CREATE OR REPLACE FUNCTION satudata_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(
        TG_ARGV[0],
        json_build_object(
            'key', to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END) ->> TG_ARGV[1],
            'kind', TG_OP
        )::text
    );
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS satudata_notify_change ON penduduk;
CREATE TRIGGER satudata_notify_change
    AFTER INSERT OR UPDATE OR DELETE ON penduduk
    FOR EACH ROW EXECUTE FUNCTION satudata_notify_change('satudata_changes', 'nik');
