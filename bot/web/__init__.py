"""HTTP plumbing shared by the domain views: runtime access, auth, errors, metrics."""
