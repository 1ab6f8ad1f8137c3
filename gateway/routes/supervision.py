"""HTTP routes of the steps the supervision service owns."""
from flask import Blueprint

bp = Blueprint("supervision", __name__)
OPERATIONS = ()
