"""Dynamics toolkit: equations of motion from Hamiltonians and Lagrangians,
Lyapunov spectra and the fast Lyapunov indicator."""
from .lyapunov import LyapunovResult, fli, lyapunov_spectrum
from .mechanics import hamiltonian, lagrangian

__all__ = ["hamiltonian", "lagrangian", "lyapunov_spectrum", "LyapunovResult", "fli"]
