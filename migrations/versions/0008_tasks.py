"""Tasks: the work the user gives the ecology (genesis/tasks), submissions and their results."""

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"


def upgrade() -> None:
    op.execute(
        """CREATE TABLE tasks (
	id TEXT NOT NULL, 
	title TEXT NOT NULL, 
	reward INTEGER NOT NULL, 
	solvers INTEGER NOT NULL, 
	difficulty INTEGER NOT NULL, 
	hidden_cases INTEGER NOT NULL, 
	attempts INTEGER NOT NULL, 
	open_for FLOAT, 
	closes_at FLOAT, 
	digest TEXT NOT NULL, 
	listed INTEGER DEFAULT 1 NOT NULL, 
	opened_at FLOAT NOT NULL, 
	updated_at FLOAT NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT reward_is_scrip CHECK (typeof(reward) = 'integer' AND reward > 0), 
	CONSTRAINT solvers_positive CHECK (typeof(solvers) = 'integer' AND solvers > 0), 
	CONSTRAINT attempts_positive CHECK (typeof(attempts) = 'integer' AND attempts > 0), 
	CONSTRAINT listed_is_flag CHECK (listed IN (0, 1))
)"""
    )
    op.execute(
        """CREATE TABLE task_submissions (
	id TEXT NOT NULL, 
	task_id TEXT NOT NULL, 
	submitter_id TEXT NOT NULL, 
	artifact_id TEXT NOT NULL, 
	status TEXT NOT NULL, 
	cases_total INTEGER NOT NULL, 
	cases_passed INTEGER, 
	reason TEXT, 
	reward INTEGER DEFAULT 0 NOT NULL, 
	tools TEXT NOT NULL, 
	pay INTEGER NOT NULL, 
	tools_paid INTEGER DEFAULT 0 NOT NULL, 
	memory_bytes INTEGER NOT NULL, 
	fuel INTEGER, 
	compute_seconds FLOAT, 
	started_at FLOAT NOT NULL, 
	ended_at FLOAT, 
	PRIMARY KEY (id), 
	CONSTRAINT submission_status CHECK (status IN ('running', 'solved', 'failed', 'taken',
	    'already_solved', 'closed', 'abandoned')), 
	CONSTRAINT submission_reward_is_scrip CHECK (typeof(reward) = 'integer' AND reward >= 0), 
	CONSTRAINT submission_pay_is_scrip CHECK (typeof(pay) = 'integer' AND pay >= 0), 
	CONSTRAINT tools_paid_is_scrip CHECK (typeof(tools_paid) = 'integer' AND tools_paid >= 0
	    AND tools_paid <= pay), 
	CONSTRAINT passed_within_total CHECK (cases_passed IS NULL
	    OR (cases_passed >= 0 AND cases_passed <= cases_total)), 
	FOREIGN KEY(task_id) REFERENCES tasks (id), 
	FOREIGN KEY(submitter_id) REFERENCES principals (id)
)"""
    )
    # The database itself pays an agent at most once per task.
    op.execute(
        "CREATE UNIQUE INDEX ux_task_solved_once ON task_submissions (task_id, submitter_id)"
        " WHERE status = 'solved'"
    )
    op.execute(
        "CREATE INDEX ix_task_submissions_task ON task_submissions (task_id, status, ended_at)"
    )
    op.execute(
        "CREATE INDEX ix_task_submissions_submitter ON task_submissions (submitter_id, task_id)"
    )
    op.execute(
        "CREATE INDEX ix_task_submissions_running ON task_submissions (status)"
        " WHERE status = 'running'"
    )
    op.execute(
        """CREATE VIEW task_results AS
        SELECT s.id AS submission_id, s.task_id, t.title, s.submitter_id AS agent_id,
               s.artifact_id, s.status, s.cases_passed, s.cases_total, s.reason,
               s.reward AS minted, s.tools_paid, s.fuel, s.compute_seconds,
               s.started_at, s.ended_at
          FROM task_submissions s JOIN tasks t ON t.id = s.task_id
         WHERE s.status != 'running'"""
    )
    op.execute(
        """CREATE VIEW task_board AS
        SELECT t.id, t.title, t.difficulty, t.reward, t.solvers,
               (SELECT count(*) FROM task_submissions s
                 WHERE s.task_id = t.id AND s.status = 'solved') AS solved,
               MAX(0, t.solvers - (SELECT count(*) FROM task_submissions s
                 WHERE s.task_id = t.id AND s.status = 'solved')) AS solvers_left,
               (SELECT count(*) FROM task_submissions s
                 WHERE s.task_id = t.id AND s.status NOT IN ('running', 'abandoned'))
                 AS submissions,
               t.closes_at, t.attempts, t.listed
          FROM tasks t"""
    )


def downgrade() -> None:
    op.execute("DROP VIEW task_board")
    op.execute("DROP VIEW task_results")
    op.drop_table("task_submissions")
    op.drop_table("tasks")
