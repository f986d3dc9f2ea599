"""The notifier: e-mail and chat messages about requests, from pao.requests.events."""
