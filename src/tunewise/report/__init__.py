"""The decision report: evaluation results and costs → report.html and report.md."""
