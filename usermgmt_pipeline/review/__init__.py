"""The dry-run review bundle: every user a run would act on, every email it would queue, one page to read.

Dagster-free: the tasks collect the rows in their dry-run walk (`collect`), the bundle (`bundle`) owns the
files (mode 0600 in folders 0700, as they hold personal data) and `page` renders the self-contained index.
"""

from usermgmt_pipeline.review.bundle import ReviewBundle, ReviewDirError, open_bundle
from usermgmt_pipeline.review.collect import ReviewPlan, review_users

__all__ = ["ReviewBundle", "ReviewDirError", "ReviewPlan", "open_bundle", "review_users"]
