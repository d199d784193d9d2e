-- The sandbox's clock: a frozen timeline stays at origin_sim until it is moved (advanced) or
-- unfrozen; the speed is kept for when it runs again.
ALTER TABLE sim_clock ADD COLUMN frozen boolean NOT NULL DEFAULT false;
