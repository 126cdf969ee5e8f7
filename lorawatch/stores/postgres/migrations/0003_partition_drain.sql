-- A worker giving a partition to another (rebalancing) marks it draining until its last
-- batch of it is committed; the next owner waits for that before it reloads the state.
ALTER TABLE partitions ADD COLUMN draining BOOLEAN NOT NULL DEFAULT false;
