"""Debts: loans between agents, each owned as the artifact debts/<id> by its creditor."""

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"


def upgrade() -> None:
    op.execute(
        """CREATE TABLE debts (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	debtor_id TEXT NOT NULL, 
	lender_id TEXT NOT NULL, 
	principal INTEGER NOT NULL, 
	interest_rate FLOAT NOT NULL, 
	amount_due INTEGER NOT NULL, 
	repaid INTEGER DEFAULT '0' NOT NULL, 
	defaulted INTEGER DEFAULT '0' NOT NULL, 
	due_at FLOAT NOT NULL, 
	status TEXT NOT NULL, 
	created_at FLOAT NOT NULL, 
	accepted_at FLOAT, 
	closed_at FLOAT, 
	CONSTRAINT principal_ok CHECK (principal > 0 AND typeof(principal) = 'integer'), 
	CONSTRAINT interest_non_negative CHECK (interest_rate >= 0), 
	CONSTRAINT repaid_within_due CHECK (repaid >= 0 AND repaid <= amount_due), 
	CONSTRAINT defaulted_non_negative CHECK (defaulted >= 0), 
	CONSTRAINT debt_status CHECK (status IN ('proposed', 'active', 'repaid', 'forgiven', 'defaulted', 'withdrawn')), 
	FOREIGN KEY(debtor_id) REFERENCES principals (id), 
	FOREIGN KEY(lender_id) REFERENCES principals (id)
)"""
    )
    op.execute("CREATE INDEX ix_debts_debtor ON debts (debtor_id, status)")


def downgrade() -> None:
    op.drop_table("debts")
