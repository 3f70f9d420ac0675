-- The task row functions join a handful of rows per task through nine tables. With the default
-- random_page_cost (4, for uncached disk reads) the planner hashes all of `workspaces` to join the 100 tasks
-- of one owner (5.6 ms a call); the tables these functions read are small and cached, and at 1.1 it looks
-- each row up by index instead (3.6 ms). Set per function, so it holds for nothing else in a shared
-- database, and neither for the all-tasks listing, which reads whole tables and should hash.
ALTER FUNCTION task_row_by_id(uuid) SET random_page_cost = 1.1;
ALTER FUNCTION task_row_by_name(uuid, text) SET random_page_cost = 1.1;
ALTER FUNCTION task_rows_of_owner(uuid) SET random_page_cost = 1.1;
