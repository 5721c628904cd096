"""A thin Kubernetes API client (httpx only): credentials from a kubeconfig file or the
in-cluster service account, GET and merge-PATCH with resourceVersion preconditions."""
