; Inno Setup 6.3+ script: the Windows installer for the PyInstaller bundle.
;
; First build the bundle on Windows (from the repository root):
;   .venv\Scripts\python -m PyInstaller --noconfirm packaging\streamdesk.spec
; which writes dist\streamdesk\ (streamdesk.exe, streamdesk-cli.exe, _internal\). Then:
;   iscc /DAppVersion=0.1.0 packaging\windows\streamdesk.iss
; writes dist\streamdesk-0.1.0-windows-x64-setup.exe. Relative paths below are relative to this
; file's folder.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#define AppName "Streamdesk"
#define AppExe "streamdesk.exe"
#define BundleDir "..\..\dist\streamdesk"

[Setup]
; Keep this AppId for every release: it is how Windows recognises an upgrade of the same app.
AppId={{821881D0-DD34-4039-9C82-CC03F7263AB5}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Streamdesk
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Per-user install without administrator rights is offered too.
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=streamdesk-{#AppVersion}-windows-x64-setup
SetupIconFile=..\icons\streamdesk.ico
UninstallDisplayIcon={app}\{#AppExe}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
