{{- define "logship.name" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "logship.labels" -}}
app.kubernetes.io/name: logship
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "logship.selector" -}}
app.kubernetes.io/name: logship
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "logship.serviceAccount" -}}
{{- default (include "logship.name" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* GOMEMLIMIT: goMemLimitPercent of limits.memory, in bytes. */}}
{{- define "logship.gomemlimit" -}}
{{- $mem := toString .Values.resources.limits.memory -}}
{{- $units := dict "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 -}}
{{- $bytes := 0 -}}
{{- range $u, $m := $units -}}
{{- if hasSuffix $u $mem -}}
{{- $bytes = mul (trimSuffix $u $mem | int64) $m -}}
{{- end -}}
{{- end -}}
{{- if eq $bytes 0 -}}
{{- fail (printf "resources.limits.memory %q: write it in Ki, Mi, Gi or Ti" $mem) -}}
{{- end -}}
{{- div (mul $bytes .Values.goMemLimitPercent) 100 -}}
{{- end -}}
