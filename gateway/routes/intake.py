"""HTTP routes of the steps the intake service owns."""
from flask import Blueprint

bp = Blueprint("intake", __name__)
OPERATIONS = ()
