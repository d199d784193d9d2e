-- The vendor's whole call record (issue 9): what a telephony layer reports about each call is
-- kept on the call's row, the caller number and lines on the route, a contact's own callback
-- URL on its order; nxlink.contract.calldoc renders the record from these rows. A server key
-- (HMAC of the recordings' links) is shared by every process on the database.

-- A route's caller number (callerPhone) and its lines (trunks; JSON array of line ids).
ALTER TABLE routes ADD COLUMN caller_phone TEXT NOT NULL DEFAULT '';
ALTER TABLE routes ADD COLUMN line_ids TEXT NOT NULL DEFAULT '[]';
UPDATE routes SET
    caller_phone = '+' || CASE country_code WHEN '' THEN '1' ELSE country_code END
        || (30000000 + id),
    line_ids = '["' || route_id || '-L1"]';

-- A contact's own callCallbackUrl (call/append), beside its task's.
ALTER TABLE orders ADD COLUMN call_callback_url TEXT NOT NULL DEFAULT '';

-- What the dialer reported. manual_start / manual_answer / manual_end: the human leg of a
-- transfer (result 17), NULL without one (manual_answer: NULL when no human answered).
ALTER TABLE calls ADD COLUMN caller_phone TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN real_phone TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN op_ts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN turns INTEGER NOT NULL DEFAULT 0 CHECK (turns >= 0);
ALTER TABLE calls ADD COLUMN hangup_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN sip_code TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN sip_addr TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN line_id TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN route_id TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN agent_group_id TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN agent_group_name TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN agent_id TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN agent_name TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN manual_start INTEGER;
ALTER TABLE calls ADD COLUMN manual_answer INTEGER;
ALTER TABLE calls ADD COLUMN manual_end INTEGER;

-- Calls made before: the facts they imply (the SIP code and hang-up reason of their result as
-- nxlink.contract.callrecord.CALL_ENDINGS gives them, the route's caller number and first
-- line, the number with its country code; a human answered a transfer at once).
UPDATE calls SET
    route_id = coalesce((SELECT t.route_id FROM tasks AS t
                         WHERE t.account_id = calls.account_id AND t.id = calls.task_row_id), ''),
    agent_group_id = coalesce((SELECT t.agent_group_id FROM tasks AS t
                               WHERE t.account_id = calls.account_id
                                 AND t.id = calls.task_row_id), ''),
    op_ts = call_end,
    turns = CASE WHEN answered = 1 THEN max(1, talk_seconds / 8) ELSE 0 END,
    sip_code = CASE result WHEN 2 THEN '480' WHEN 4 THEN '486' WHEN 5 THEN '603'
        WHEN 6 THEN '503' WHEN 7 THEN '404' WHEN 8 THEN '403' WHEN 9 THEN '502' ELSE '200' END,
    hangup_reason = CASE result WHEN 1 THEN 'callee hung up' WHEN 2 THEN 'no answer'
        WHEN 3 THEN 'callee hung up' WHEN 4 THEN 'busy' WHEN 5 THEN 'rejected'
        WHEN 6 THEN 'unreachable' WHEN 7 THEN 'invalid number' WHEN 8 THEN 'blocked'
        WHEN 9 THEN 'route failure' WHEN 21 THEN 'voicemail'
        ELSE CASE manual_status WHEN 1 THEN 'callee hung up' ELSE 'transfer not answered' END
    END,
    manual_start = CASE WHEN result = 17 THEN call_answer + talk_seconds END,
    manual_answer = CASE WHEN result = 17 AND manual_status = 1
        THEN call_answer + talk_seconds END,
    manual_end = CASE WHEN result = 17 THEN call_end END,
    real_phone = CASE WHEN callee_phone LIKE '+%' THEN callee_phone
        ELSE '+' || coalesce((SELECT nullif(o.country_code, '') FROM orders AS o
                              WHERE o.account_id = calls.account_id AND o.id = calls.order_id), '')
            || ltrim(callee_phone, '0') END;
UPDATE calls SET
    caller_phone = coalesce((SELECT r.caller_phone FROM tasks AS t JOIN routes AS r
                             ON r.account_id = t.account_id AND r.route_id = t.route_id
                             WHERE t.account_id = calls.account_id
                               AND t.id = calls.task_row_id), ''),
    line_id = route_id || '-L1',
    agent_group_name = CASE agent_group_id WHEN '' THEN ''
        ELSE 'Agent group ' || agent_group_id END,
    agent_id = CASE WHEN manual_status = 1 THEN agent_group_id || '-01' ELSE '' END,
    agent_name = CASE WHEN manual_status = 1 THEN 'Agent 01' ELSE '' END;
UPDATE calls SET sip_addr = 'sip:' || ltrim(real_phone, '+') || '@' || line_id || '.sip.invalid';

-- Secrets of the server itself (not of a tenant), created on first use: 'recordings' signs the
-- recordings' links, so that a link one process made plays from any other.
CREATE TABLE server_keys (
    name       TEXT    PRIMARY KEY,
    secret     TEXT    NOT NULL,
    created_ts INTEGER NOT NULL
) WITHOUT ROWID;
