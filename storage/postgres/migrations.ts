import { SCHEMA } from './database.ts'
import type { Database } from './database.ts'

/**
 * The schema, as the steps that build it, numbered: step n brings a database at version n-1 to n
 * and records it in schema_migrations. Add a step to change the schema; never edit one that shipped.
 * DIDs are keyed by their sha-256 (`*_hash`), since a did:peer:2 can outgrow an index key; the DID
 * itself is kept beside its hash, to be returned.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE SCHEMA IF NOT EXISTS ${SCHEMA};
  CREATE TABLE ${SCHEMA}.schema_migrations (
    version integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
  );
  COMMENT ON TABLE ${SCHEMA}.schema_migrations IS 'Schema steps applied; the highest is the schema version';

  CREATE TABLE ${SCHEMA}.mailbox_boxes (
    box bytea PRIMARY KEY,
    messages integer NOT NULL,
    bytes bigint NOT NULL
  );
  COMMENT ON TABLE ${SCHEMA}.mailbox_boxes IS 'Per recipient mailbox (box = sha-256 of the recipient DID): its totals, changed in the same transaction as its messages, so a quota check reads and locks one row';

  CREATE TABLE ${SCHEMA}.mailbox_messages (
    box bytea NOT NULL,
    id text NOT NULL,
    received_at bigint NOT NULL,
    size integer NOT NULL,
    message text NOT NULL,
    claimed_by text,
    claimed_until bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (box, id)
  );
  CREATE INDEX mailbox_messages_oldest_first ON ${SCHEMA}.mailbox_messages (box, received_at, id);
  CREATE INDEX mailbox_messages_expiry ON ${SCHEMA}.mailbox_messages (received_at);
  COMMENT ON TABLE ${SCHEMA}.mailbox_messages IS 'Queued packed messages per mailbox; id = sha-256 of the packed message, kept once per mailbox; claimed_by/claimed_until: the replica pushing it to a live client now';

  CREATE TABLE ${SCHEMA}.mediation_names (
    name_hash bytea PRIMARY KEY,
    name text COLLATE "C" NOT NULL,
    kind text NOT NULL CHECK (kind IN ('client', 'recipient', 'alias')),
    client_hash bytea NOT NULL REFERENCES ${SCHEMA}.mediation_names (name_hash),
    recipient_hash bytea REFERENCES ${SCHEMA}.mediation_names (name_hash),
    granted_at bigint,
    CHECK ((kind = 'client') = (granted_at IS NOT NULL AND recipient_hash IS NULL))
  );
  CREATE INDEX mediation_names_by_holder ON ${SCHEMA}.mediation_names (client_hash, recipient_hash);
  CREATE INDEX mediation_names_clients ON ${SCHEMA}.mediation_names (name_hash) WHERE kind = 'client';
  COMMENT ON TABLE ${SCHEMA}.mediation_names IS 'Every DID the mediator routes by, each held once: clients granted mediation (client_hash = itself), their recipients (recipient_hash = itself) and aliases (recipient_hash = the recipient they route to)';

  CREATE TABLE ${SCHEMA}.outbox (
    next_hash bytea NOT NULL,
    id text NOT NULL,
    next text NOT NULL,
    message text NOT NULL,
    enqueued_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    sender text NOT NULL,
    origin text,
    thid text,
    attempts integer NOT NULL DEFAULT 0,
    size integer NOT NULL,
    claimed_by text,
    claimed_until bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (next_hash, id)
  );
  CREATE INDEX outbox_oldest_first ON ${SCHEMA}.outbox (next_hash, enqueued_at, id);
  COMMENT ON TABLE ${SCHEMA}.outbox IS 'Packed messages waiting to be relayed to another mediator (next), kept once per next hop; claimed_by/claimed_until: the replica relaying it now, so no two relay it at once';

  CREATE TABLE ${SCHEMA}.used_invitations (
    nonce text PRIMARY KEY,
    expires_at bigint NOT NULL
  );
  CREATE INDEX used_invitations_expiry ON ${SCHEMA}.used_invitations (expires_at);
  COMMENT ON TABLE ${SCHEMA}.used_invitations IS 'Single-use invitation tokens already used, until they expire';

  CREATE TABLE ${SCHEMA}.mediator_dids (
    did_hash bytea PRIMARY KEY,
    did text NOT NULL,
    position bigint GENERATED ALWAYS AS IDENTITY
  );
  COMMENT ON TABLE ${SCHEMA}.mediator_dids IS 'Every mediator DID the mesh has answered to, oldest first: wallets still name old ones';

  CREATE TABLE ${SCHEMA}.libp2p_datastore (
    key text COLLATE "C" PRIMARY KEY,
    value bytea NOT NULL
  );
  COMMENT ON TABLE ${SCHEMA}.libp2p_datastore IS 'libp2p''s own records (peer store, DHT)';
  `,
  `
  CREATE TABLE ${SCHEMA}.push_devices (
    id text PRIMARY KEY,
    client_hash bytea NOT NULL REFERENCES ${SCHEMA}.mediation_names (name_hash) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('webpush', 'fcm', 'apns')),
    token text NOT NULL,
    platform text,
    p256dh text,
    auth text,
    registered_at bigint NOT NULL,
    UNIQUE (client_hash, kind, token)
  );
  COMMENT ON TABLE ${SCHEMA}.push_devices IS 'Devices a client asked to be woken on when messages wait (token: FCM/APNs device token or Web Push endpoint); deleted with the client''s grant';
  `,
  // One call stores a whole group's messages: a statement per message cost the node more than the database.
  `
  CREATE FUNCTION ${SCHEMA}.mailbox_store(
    new_boxes bytea[], new_ids text[], new_received_at bigint[], new_sizes integer[], new_messages text[],
    max_messages integer, max_bytes bigint
  ) RETURNS TABLE (stored boolean, refused boolean, queued_messages integer, queued_bytes bigint)
  LANGUAGE plpgsql AS $$
  BEGIN
    FOR i IN 1 .. coalesce(array_length(new_boxes, 1), 0) LOOP
      -- First the message: one already there (or being stored by another transaction, which this waits for) is a duplicate and counts nothing.
      INSERT INTO ${SCHEMA}.mailbox_messages (box, id, received_at, size, message)
      VALUES (new_boxes[i], new_ids[i], new_received_at[i], new_sizes[i], new_messages[i])
      ON CONFLICT (box, id) DO NOTHING;
      stored := FOUND;
      refused := false;
      queued_messages := NULL;
      queued_bytes := NULL;
      IF stored THEN
        -- Then its count, conditioned on the quota, evaluated on the box row it locks: exact across processes.
        INSERT INTO ${SCHEMA}.mailbox_boxes AS b (box, messages, bytes)
        SELECT new_boxes[i], 1, new_sizes[i] WHERE max_messages >= 1 AND new_sizes[i] <= max_bytes
        ON CONFLICT (box) DO UPDATE SET messages = b.messages + 1, bytes = b.bytes + excluded.bytes
        WHERE b.messages + 1 <= max_messages AND b.bytes + excluded.bytes <= max_bytes
        RETURNING b.messages, b.bytes INTO queued_messages, queued_bytes;
        IF NOT FOUND THEN
          -- The box is full: take the message back, and report the totals that refused it.
          refused := true;
          DELETE FROM ${SCHEMA}.mailbox_messages WHERE box = new_boxes[i] AND id = new_ids[i];
          SELECT b.messages, b.bytes INTO queued_messages, queued_bytes FROM ${SCHEMA}.mailbox_boxes b WHERE b.box = new_boxes[i];
        END IF;
      END IF;
      RETURN NEXT;
    END LOOP;
  END
  $$;
  COMMENT ON FUNCTION ${SCHEMA}.mailbox_store IS 'Stores messages one after another, each kept once per box and counted against the box''s quota, or refused (and not kept) past it; one row per message: stored (false: a duplicate), refused, and the box''s totals after it (or that refused it)';
  `
]

/** The version this code builds and expects. */
export const SCHEMA_VERSION = MIGRATIONS.length

export class StoreVersionError extends Error {
  override name = 'StoreVersionError'
}

/** Arbitrary, fixed: the advisory lock under which one process at a time reads and upgrades the schema. */
const MIGRATION_LOCK = 7_236_284_613_509_417_324n

/**
 * Brings the database's schema to SCHEMA_VERSION, all steps in one transaction, or refuses a schema
 * that is newer (written by a newer node). Under an advisory lock: replicas starting together take
 * turns, and the later ones find the work done. Returns the version found and the version now.
 */
export async function migrate (db: Database): Promise<{ from: number, to: number }> {
  return await db.transaction(async tx => {
    await tx.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`)
    const [found] = await tx.query<{ exists: boolean }>(`SELECT to_regclass('${SCHEMA}.schema_migrations') IS NOT NULL AS exists`)
    const [row] = found?.exists === true ? await tx.query<{ version: number }>(`SELECT max(version) AS version FROM ${SCHEMA}.schema_migrations`) : []
    const version = row?.version ?? 0
    if (version > SCHEMA_VERSION) {
      throw new StoreVersionError(`the database's schema is at version ${version}, newer than this node's ${SCHEMA_VERSION}: upgrade the node`)
    }
    for (let next = version + 1; next <= SCHEMA_VERSION; next++) {
      await tx.query(MIGRATIONS[next - 1] as string)
      await tx.query(`INSERT INTO ${SCHEMA}.schema_migrations (version) VALUES ($1)`, [next])
    }
    return { from: version, to: SCHEMA_VERSION }
  })
}
